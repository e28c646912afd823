// The lock helper against a fake lock service (protocol details, failure
// paths), and — when the Go runner provides one — against the real one.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect } from 'node:util';
import { after, before, beforeEach, describe, test } from 'node:test';
import { LockError, LockLost, LockNotObtained, LockUnavailable, Locks } from '@sidecarproxy/session';
import { closedPortURL, listen, waitFor } from '../test-fixtures/helpers.mjs';

const TOKEN = 'test-bearer-token-0123456789';

/** A fake lock service: records calls; `mode` bends its answers. */
function fakeService() {
  // Fences start past 2^53, where a JS number would round them.
  const state = { calls: [], mode: {}, fence: 2n ** 53n + 1n, held: new Map() };
  const answer = (res, status, body, headers = {}) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
    res.end(JSON.stringify(body));
  };
  const lease = (name, token, ttl) => ({
    name, token, fence: Number(state.fence), fence_string: String(state.fence),
    ttl_ms: ttl - 5, expires_at: new Date(Date.now() + ttl).toISOString(),
  });
  state.handler = (req, res) => {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', () => {
      const [, name, op] = req.url.match(/^\/locks\/(.+)\/(acquire|extend|release)$/) ?? [];
      const body = JSON.parse(raw || '{}');
      state.calls.push({ op, name, body, auth: req.headers.authorization, type: req.headers['content-type'] });
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return answer(res, 401, { error: 'unauthorized' });
      const forced = state.mode[op];
      if (forced) return answer(res, forced.status, { error: forced.error, name }, forced.headers);
      if (op === 'acquire') {
        state.fence += 1000n;
        const token = `tok-${state.fence}`;
        state.held.set(token, name);
        return answer(res, 200, lease(name, token, body.ttl));
      }
      if (!state.held.has(body.token)) return answer(res, 409, { error: 'not held', name });
      if (op === 'release') {
        state.held.delete(body.token);
        return answer(res, 200, { name, released: true });
      }
      return answer(res, 200, lease(name, body.token, body.ttl));
    });
  };
  return state;
}

describe('Locks against a fake service', () => {
  let svc;
  let srv;
  let locks;
  before(async () => {
    svc = fakeService();
    srv = await listen((req, res) => svc.handler(req, res));
    locks = new Locks(`${srv.url}/`, TOKEN, { timeout: 5000 });
  });
  after(() => srv.close());
  beforeEach(() => {
    svc.calls = [];
    svc.mode = {};
  });
  const ops = () => svc.calls.map((c) => c.op);

  test('acquires, hands fn the lease, releases, and returns fn\'s result', async () => {
    const result = await locks.withLock('shop/stock/sku-1', { ttl: '1m30s', wait: '500ms' }, async (lease) => {
      assert.equal(lease.name, 'shop/stock/sku-1');
      assert.equal(typeof lease.fence, 'string');
      assert.equal(lease.fence, String(svc.fence), 'the fence keeps its precision (fence_string)');
      assert.ok(lease.expiresAt instanceof Date);
      assert.ok(!inspect(lease).includes(lease.token), 'logging a lease does not print its token');
      return 42;
    });
    assert.equal(result, 42);
    assert.deepEqual(ops(), ['acquire', 'release']);
    const [acq, rel] = svc.calls;
    assert.deepEqual(acq.body, { ttl: 90000, wait: 500 });
    assert.equal(acq.name, 'shop/stock/sku-1');
    assert.equal(acq.auth, `Bearer ${TOKEN}`);
    assert.equal(acq.type, 'application/json');
    assert.match(rel.body.token, /^tok-/);
    assert.equal(svc.held.size, 0);
  });

  test('positional withLock(name, ttl, wait, fn) and durations in every form', async () => {
    await locks.withLock('a', 1500, '2s', () => null);
    await locks.withLock('a', '1500', 0, () => null);
    await locks.withLock('a', { ttl: '1h' }, () => null);
    await locks.withLock('a', { ttl: '250ms', wait: '.5s' }, () => null);
    const acquires = svc.calls.filter((c) => c.op === 'acquire').map((c) => c.body);
    assert.deepEqual(acquires, [
      { ttl: 1500, wait: 2000 }, { ttl: 1500, wait: 0 }, { ttl: 3600000, wait: 0 }, { ttl: 250, wait: 500 },
    ]);
    for (const bad of ['10x', '', '5 s', -1, NaN, '1m-2s']) {
      await assert.rejects(locks.withLock('a', { ttl: bad }, () => null), TypeError, String(bad));
    }
    await assert.rejects(locks.withLock('a b', { ttl: 1000 }, () => null), TypeError);
    await assert.rejects(locks.withLock('a?x', { ttl: 1000 }, () => null), TypeError);
  });

  test('extends every ttl/3 while fn runs, and stops afterwards', async () => {
    await locks.withLock('slow', { ttl: 90 }, async () => {
      await waitFor(() => svc.calls.filter((c) => c.op === 'extend').length >= 3, 'three extends');
    });
    const extends_ = svc.calls.filter((c) => c.op === 'extend');
    assert.ok(extends_.every((c) => c.body.ttl === 90 && /^tok-/.test(c.body.token)));
    assert.equal(ops().at(-1), 'release');
    const count = svc.calls.length;
    await new Promise((resolve) => setTimeout(resolve, 150)); // five periods: a live timer would fire
    assert.equal(svc.calls.length, count, 'no extend after release');
  });

  test('an error from fn is rethrown and the lock still released', async () => {
    const boom = new Error('boom');
    await assert.rejects(locks.withLock('x', { ttl: 1000 }, () => {
      throw boom;
    }), (err) => err === boom);
    assert.deepEqual(ops(), ['acquire', 'release']);
  });

  test('409 on acquire: LockNotObtained; 503: LockUnavailable; others: LockError', async () => {
    let ran = false;
    const fn = () => {
      ran = true;
    };
    svc.mode.acquire = { status: 409, error: 'not obtained' };
    await assert.rejects(locks.withLock('x', { ttl: 1000 }, fn), (err) => err instanceof LockNotObtained && err instanceof LockError);
    svc.mode.acquire = { status: 503, error: 'unavailable', headers: { 'Retry-After': '2' } };
    await assert.rejects(locks.withLock('x', { ttl: 1000 }, fn), (err) => err instanceof LockUnavailable && err.retryAfter === 2);
    svc.mode.acquire = { status: 400, error: 'bad ttl' };
    await assert.rejects(locks.withLock('x', { ttl: 1000 }, fn),
      (err) => err.constructor === LockError && err.status === 400 && /bad ttl/.test(err.message));
    assert.equal(ran, false);
    const wrong = new Locks(srv.url, 'wrong-token-wrong-token');
    await assert.rejects(wrong.withLock('x', { ttl: 1000 }, fn), (err) => err.status === 401 && !err.message.includes('wrong-token'));
  });

  test('an unreachable service is a LockError', async () => {
    const gone = new Locks(await closedPortURL(), TOKEN);
    await assert.rejects(gone.withLock('x', { ttl: 1000 }, () => null), (err) => err.constructor === LockError && err.cause instanceof Error);
  });

  test('release answering "not held": LockLost after fn returned, its result discarded', async () => {
    svc.mode.release = { status: 409, error: 'not held' };
    let finished = false;
    await assert.rejects(locks.withLock('x', { ttl: 1000 }, () => {
      finished = true;
      return 'discarded';
    }), LockLost);
    assert.ok(finished);
  });

  test('an extend that finds the lease gone aborts lease.signal; withLock then throws LockLost', async () => {
    svc.mode.extend = { status: 409, error: 'not held' };
    let reason;
    await assert.rejects(locks.withLock('x', { ttl: 60 }, async (lease) => {
      await new Promise((resolve) => lease.signal.addEventListener('abort', resolve));
      reason = lease.signal.reason;
    }), LockLost);
    assert.ok(reason instanceof LockLost);
    assert.deepEqual(ops(), ['acquire', 'extend'], 'a lost lease is not released');
  });

  test('extend errors other than "not held" are retried on the next round', async () => {
    svc.mode.extend = { status: 503, error: 'unavailable' };
    await locks.withLock('x', { ttl: 60 }, async (lease) => {
      await waitFor(() => svc.calls.filter((c) => c.op === 'extend').length >= 2, 'two extend attempts');
      assert.equal(lease.signal.aborted, false);
      svc.mode = {};
      await waitFor(() => svc.calls.filter((c) => c.op === 'extend').length >= 3, 'a successful extend');
    });
    assert.equal(ops().at(-1), 'release');
  });

  test('lease.extend() by hand', async () => {
    await locks.withLock('x', { ttl: 60000 }, async (lease) => {
      const before_ = lease.expiresAt;
      await lease.extend('2m');
      assert.ok(lease.expiresAt > before_);
      await lease.extend();
    });
    assert.deepEqual(svc.calls.filter((c) => c.op === 'extend').map((c) => c.body.ttl), [120000, 60000]);
  });

  test('constructor checks', () => {
    assert.throws(() => new Locks('127.0.0.1:9091', TOKEN), TypeError);
    assert.throws(() => new Locks('http://127.0.0.1:9091', ''), /SIDECAR_LOCK_SERVICE__TOKEN/);
  });
});

describe('Locks against the real lock service', () => {
  const url = process.env.SIDECAR_TEST_LOCK_URL;
  const token = process.env.SIDECAR_LOCK_SERVICE__TOKEN;
  const skip = !(url && token)
    && 'SKIPPED, NOT RUN: set SIDECAR_TEST_LOCK_URL and SIDECAR_LOCK_SERVICE__TOKEN (go test ./clients does, with a real sidecar)';

  test('10 worker processes x 20 increments through withLock: exactly 200, fences strictly increasing', { skip, timeout: 180000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sidecar-node-locks-'));
    try {
      const counter = join(dir, 'counter');
      const fences = join(dir, 'fences');
      await writeFile(counter, '0');
      await writeFile(fences, '');
      const name = `kit-node/counter-${process.pid}-${Date.now()}`;
      const worker = fileURLToPath(new URL('../test-fixtures/lock-worker.mjs', import.meta.url));
      const runs = Array.from({ length: 10 }, (_, i) => run(process.execPath,
        [worker, i % 2 ? 'cjs' : 'esm', name, counter, fences, '20']));
      const results = await Promise.all(runs);
      for (const r of results) assert.equal(r.code, 0, `a worker failed:\n${r.stderr}`);
      assert.equal(await readFile(counter, 'utf8'), '200');
      const seen = (await readFile(fences, 'utf8')).trim().split('\n').map(BigInt);
      assert.equal(seen.length, 200);
      for (let i = 1; i < seen.length; i++) {
        assert.ok(seen[i] > seen[i - 1], `fence ${i} (${seen[i]}) not above fence ${i - 1} (${seen[i - 1]})`);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Runs a child process; resolves its exit code and stderr. */
function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c) => { stderr += c; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}
