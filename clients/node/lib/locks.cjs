'use strict';
// Client of Sidecar's lock service (docs/locks.md): withLock acquires, extends
// in the background while fn runs, and releases.

const { LockError, LockNotObtained, LockUnavailable, LockLost } = require('./errors.cjs');

const NAME = /^[A-Za-z0-9._:/-]{1,200}$/;
const UNIT_MS = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };
const DURATION = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/y;

/**
 * Milliseconds from a number (milliseconds) or a string: a Go duration such
 * as "500ms", "30s", "1m30s", or whole milliseconds ("1500").
 */
function toMs(value, what) {
  let ms;
  if (typeof value === 'number') {
    ms = value;
  } else if (typeof value === 'string' && /^\d+$/.test(value)) {
    ms = Number(value);
  } else if (typeof value === 'string' && value !== '') {
    ms = 0;
    DURATION.lastIndex = 0;
    let m;
    while (DURATION.lastIndex < value.length && (m = DURATION.exec(value)) !== null) {
      ms += Number(m[1]) * UNIT_MS[m[2]];
    }
    if (m === null) ms = NaN;
  }
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    throw new TypeError(`Locks: ${what} is milliseconds (a number) or a duration like "30s"`);
  }
  return Math.round(ms);
}

/**
 * Lease: a held lock. fence is the fencing number as a decimal string
 * (compare with BigInt); signal aborts (with LockLost) when an extend finds
 * the lease gone. The token is not an own property, so logging the lease
 * does not print it.
 */
class Lease {
  #post;
  #token;
  #ttl;
  #controller = new AbortController();

  /** Built by Locks: post(op, body) calls the service for this lock; ttl in ms. */
  constructor(post, body, ttl) {
    this.#post = post;
    this.#token = body.token;
    this.#ttl = ttl;
    this.name = body.name;
    this.fence = body.fence_string ?? String(body.fence);
    this.#update(body);
  }

  /** The lease token (a secret: it releases the lock). */
  get token() {
    return this.#token;
  }

  /** Aborted with a LockLost reason once the lease is known to be lost. */
  get signal() {
    return this.#controller.signal;
  }

  /**
   * Extends the lease to ttl (ms or "30s"; default the ttl it was taken
   * with) from now. Rejects with LockLost (and aborts signal) when the service
   * no longer holds it, LockUnavailable or LockError when it cannot tell.
   */
  async extend(ttl = this.#ttl) {
    const res = await this.#post('extend', { token: this.#token, ttl: toMs(ttl, 'ttl') });
    if (res.status === 409) {
      const lost = new LockLost(this.name);
      this.#controller.abort(lost);
      throw lost;
    }
    this.#update(res.body);
    return this;
  }

  #update(body) {
    this.ttlMs = body.ttl_ms;
    this.expiresAt = new Date(body.expires_at);
  }
}

/**
 * Locks talks to lock_service.listen (url like http://127.0.0.1:9091) with
 * the bearer token lock_service.token. options.timeout: ms each HTTP call may
 * take beyond an acquire's wait (default 10000).
 */
class Locks {
  #base;
  #token;
  #timeout;

  constructor(url, token, { timeout = 10000 } = {}) {
    if (typeof url !== 'string' || !/^https?:\/\//.test(url)) throw new TypeError('Locks: url is http(s)://host:port');
    if (typeof token !== 'string' || token === '') {
      throw new TypeError('Locks: token is required (lock_service.token, e.g. from SIDECAR_LOCK_SERVICE__TOKEN)');
    }
    this.#base = url.replace(/\/+$/, '');
    this.#token = token;
    this.#timeout = toMs(timeout, 'timeout');
  }

  /**
   * Runs fn(lease) while holding the lock name and resolves fn's result.
   * Call as withLock(name, {ttl, wait}, fn) or withLock(name, ttl, wait, fn);
   * ttl and wait are ms numbers or strings like "30s" (wait defaults to 0).
   * The lease is extended every ttl/3 while fn runs and released afterwards.
   * Throws LockNotObtained (409), LockUnavailable (503), LockError (other),
   * or LockLost after fn returned when the lease ran out under it (fn's
   * result is then discarded). An error from fn is rethrown as is.
   */
  async withLock(name, ...args) {
    const fn = args.pop();
    const opts = args.length === 1 && args[0] !== null && typeof args[0] === 'object'
      ? args[0] : { ttl: args[0], wait: args[1] };
    if (typeof fn !== 'function') throw new TypeError('Locks: withLock needs a function');
    if (typeof name !== 'string' || !NAME.test(name)) {
      throw new TypeError('Locks: a lock name is 1-200 of A-Z a-z 0-9 . _ : / -');
    }
    const ttl = toMs(opts.ttl, 'ttl');
    const wait = toMs(opts.wait ?? 0, 'wait');
    if (ttl < 1) throw new TypeError('Locks: ttl is at least 1ms');

    const lease = await this.#acquire(name, ttl, wait);
    const renewal = this.#renew(lease, ttl);
    let result;
    try {
      result = await fn(lease);
    } catch (err) {
      await renewal.stop();
      if (!lease.signal.aborted) await this.#release(lease);
      throw err;
    }
    await renewal.stop();
    if (lease.signal.aborted || !(await this.#release(lease))) throw new LockLost(name);
    return result;
  }

  /**
   * POSTs a JSON body to /locks/name/op and resolves {status, body} for 200
   * and (extend, release) 409 "not held"; throws the lock errors otherwise.
   */
  async #post(name, op, body, extraMs = 0) {
    let res;
    try {
      res = await fetch(`${this.#base}/locks/${name}/${op}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${this.#token}`,
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.#timeout + extraMs),
      });
    } catch (err) {
      throw new LockError(`lock service unreachable (${op} ${name}): ${err.message}`, { name, cause: err });
    }
    let parsed = null;
    try {
      parsed = await res.json();
    } catch {
      // Non-JSON error body: the status says enough.
    }
    if (res.status === 503) throw new LockUnavailable(name, Number(res.headers.get('retry-after')) || undefined);
    if (res.status === 409 && op === 'acquire') throw new LockNotObtained(name);
    if (res.status !== 200 && res.status !== 409) {
      const why = parsed && typeof parsed.error === 'string' ? `: ${parsed.error}` : '';
      throw new LockError(`lock service answered ${res.status} to ${op} ${name}${why}`, { status: res.status, name });
    }
    return { status: res.status, body: parsed };
  }

  async #acquire(name, ttl, wait) {
    const res = await this.#post(name, 'acquire', { ttl, wait }, wait);
    return new Lease((op, body) => this.#post(name, op, body), res.body, ttl);
  }

  /** Resolves false when the service said the lease was not held any more. */
  async #release(lease) {
    try {
      return (await this.#post(lease.name, 'release', { token: lease.token })).status === 200;
    } catch {
      // Unreachable: the lease ends by itself at its ttl.
      return true;
    }
  }

  /** Extends every ttl/3 until stop(); stop() waits for an extend in flight. */
  #renew(lease, ttl) {
    let timer = null;
    let inflight = null;
    let stopped = false;
    const schedule = () => {
      timer = setTimeout(() => {
        inflight = lease.extend(ttl).catch(() => {
          // Lost: signal is aborted. Unreachable or 503: try again next round.
        }).finally(() => {
          inflight = null;
          if (!stopped && !lease.signal.aborted) schedule();
        });
      }, Math.max(1, Math.floor(ttl / 3)));
      timer.unref();
    };
    schedule();
    return {
      async stop() {
        stopped = true;
        clearTimeout(timer);
        if (inflight) await inflight;
      },
    };
  }
}

module.exports = { Locks, Lease, toMs };
