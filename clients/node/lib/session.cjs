'use strict';
// The session of one request: reads from the verified claims, writes
// collected into the X-Sidecar-* response headers (protocol §3).

const { OutgoingMessage } = require('node:http');
const { HeadersSentError } = require('./errors.cjs');

/** Longest X-Sidecar-Patch value headers() produces. */
const MAX_PATCH_BYTES = 6144;
const CONTROL = /[\u0000-\u001f\u007f]/;
const NON_ASCII = /[^\u0000-\u007f]/;
const EMPTY = Buffer.alloc(0);

/**
 * JSON with every character above 0x7E written as \uXXXX (UTF-16 code units,
 * so a character above U+FFFF becomes its two surrogate escapes). "/" is not
 * escaped; there is no whitespace.
 */
function asciiJSON(value) {
  const text = JSON.stringify(value);
  if (text === undefined) throw new TypeError('Sidecar session: value is not JSON-encodable');
  return text.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function define(obj, key, value) {
  // defineProperty, not assignment: a key named "__proto__" stays a plain key.
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * RFC 7396 JSON Merge Patch, as Sidecar applies X-Sidecar-Patch: patch merged
 * into target (into {} when target is not an object); returns a new value.
 */
function mergePatch(target, patch) {
  if (!isObject(patch)) return patch;
  const out = {};
  if (isObject(target)) for (const [k, v] of Object.entries(target)) define(out, k, v);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else define(out, k, mergePatch(Object.hasOwn(out, k) ? out[k] : undefined, v));
  }
  return out;
}

/**
 * The one delta that merges as a then b do (members of b replace those of a in
 * place, new ones go last, objects in both compose), or null when there is
 * none: a member of a is null or not an object and b's is an object.
 */
function compose(a, b) {
  const out = {};
  for (const [k, v] of Object.entries(a)) define(out, k, v);
  for (const [k, v] of Object.entries(b)) {
    let next = v;
    if (Object.hasOwn(out, k) && isObject(v)) {
      if (!isObject(out[k])) return null;
      next = compose(out[k], v);
      if (next === null) return null;
    }
    define(out, k, next);
  }
  return out;
}

/** Whether v holds null as an object member, at any depth of objects (arrays do not count). */
function hasNullMember(v) {
  return isObject(v) && Object.values(v).some((m) => m === null || hasNullMember(m));
}

function checkName(name) {
  if (typeof name !== 'string' || name === '') {
    throw new TypeError('Sidecar session: an attribute name is a non-empty string');
  }
}

/**
 * Session: one request's view of its Sidecar session. Build it with
 * sidecar.read(req) (or `new Session(claims)` from verified claims).
 *
 * Reads see this request's pending writes. set() replaces an attribute;
 * merge() merges an object into it (RFC 7396). Per name the session keeps the
 * merge delta so far or the value that replaces the attribute, and sends them
 * as X-Sidecar-Patch (first-touch order; a replacing object value is preceded
 * by a patch that deletes the attribute), plus X-Sidecar-Principal and
 * X-Sidecar-Action, by attach(res) or headers(). destroy() wins: it drops
 * pending writes and ignores later ones.
 */
class Session {
  #claims;
  #data;
  #writes = new Map(); // name -> { merge, value } (value null: removed)
  #principal; // undefined: untouched; '' clears
  #action = null;
  #view = null;
  #readOnly;
  #sent = false;
  #attached = null;

  /**
   * claims: the verified payload. options.readOnly: a message; when set,
   * every write throws an Error with it (the anonymous session of allowMissing).
   */
  constructor(claims = {}, { readOnly } = {}) {
    this.#claims = claims;
    this.#data = isObject(claims.data) ? claims.data : {};
    this.#readOnly = readOnly;
  }

  /** The attribute name with pending writes applied, or def (default null). */
  get(name, def = null) {
    const view = this.#current();
    return Object.hasOwn(view, name) ? structuredClone(view[name]) : def;
  }

  /** All attributes with pending writes applied (a fresh object; {} after destroy). */
  all() {
    return structuredClone(this.#current());
  }

  /** The principal (claim sub, or the pending setPrincipal), or null. */
  principal() {
    if (this.#action === 'destroy') return null;
    const p = this.#principal !== undefined ? this.#principal : this.#claims.sub;
    return typeof p === 'string' && p !== '' ? p : null;
  }

  /** True when the request had no live session (claim new). */
  isNew() {
    return this.#claims.new === true || !Object.hasOwn(this.#claims, 'new');
  }

  /** The session's public handle (claim sid); "" without a session. */
  sid() {
    return typeof this.#claims.sid === 'string' ? this.#claims.sid : '';
  }

  /** The session version (claim ver); 0 without a session. */
  version() {
    return typeof this.#claims.ver === 'number' ? this.#claims.ver : 0;
  }

  /** The verified payload. */
  claims() {
    return structuredClone(this.#claims);
  }

  /**
   * Sets a top-level attribute to exactly value (copied through JSON): it
   * replaces what is stored. null removes it. A value cannot hold null as an
   * object member (Sidecar's merge would drop it): use merge() to delete
   * members. Throws a TypeError on such a value, an Error when the patch would
   * pass 6144 bytes.
   */
  set(name, value) {
    checkName(name);
    if (!this.#writable('set')) return this;
    if (value === undefined) throw new TypeError('Sidecar session: set() needs a value; use remove()');
    const v = JSON.parse(asciiJSON(value));
    if (hasNullMember(v)) {
      throw new TypeError(`Sidecar session: set("${name}"): the value holds null as an object member, which ` +
        'Sidecar cannot store: leave the member out, or use merge() to delete it');
    }
    this.#put(name, { merge: false, value: v });
    return this;
  }

  /**
   * Merges the object delta (copied through JSON) into the attribute as RFC
   * 7396 says: its members replace the stored object's, a null member deletes
   * that member, object members merge in turn (an absent or non-object
   * attribute counts as {}). Only the members named change, so concurrent
   * requests that merge different members keep each other's changes.
   */
  merge(name, delta) {
    checkName(name);
    if (!this.#writable('merge')) return this;
    const d = delta === undefined ? undefined : JSON.parse(asciiJSON(delta));
    if (!isObject(d)) throw new TypeError(`Sidecar session: merge("${name}") needs a plain object`);
    this.#put(name, this.#merged(name, d));
    return this;
  }

  /** Removes a top-level attribute. */
  remove(name) {
    checkName(name);
    if (this.#writable('remove')) this.#put(name, { merge: false, value: null });
    return this;
  }

  /** Sets the principal; null or "" clears it. Control characters throw. */
  setPrincipal(principal) {
    if (principal !== null && typeof principal !== 'string') {
      throw new TypeError('Sidecar session: the principal is a string or null');
    }
    if (principal !== null && CONTROL.test(principal)) {
      throw new TypeError('Sidecar session: the principal must not contain control characters');
    }
    if (this.#writable('setPrincipal')) this.#principal = principal ?? '';
    return this;
  }

  /** Asks Sidecar for a new session token (after login: defeats fixation). */
  regenerate() {
    if (this.#writable('regenerate')) this.#action = 'regenerate';
    return this;
  }

  /** Deletes the session (logout); pending and later writes are dropped. */
  destroy() {
    if (this.#writable('destroy')) {
      this.#action = 'destroy';
      this.#writes.clear();
      this.#principal = undefined;
      this.#view = null;
    }
    return this;
  }

  /**
   * The response headers for the pending writes, as [name, value] pairs in the
   * order Patch (twice when set() gave an attribute an object: first a patch
   * that deletes those attributes), Principal, Action; the principal's UTF-8
   * bytes are given as a Latin-1 string, the way Node writes header values.
   * No I/O.
   */
  headers() {
    if (this.#action === 'destroy') return [['X-Sidecar-Action', 'destroy']];
    const out = [];
    for (const value of this.#encodePatches()) {
      if (value.length > MAX_PATCH_BYTES) throw new Error('Sidecar session: patch too large');
      out.push(['X-Sidecar-Patch', value]);
    }
    if (this.#principal !== undefined) {
      out.push(['X-Sidecar-Principal', Buffer.from(this.#principal, 'utf8').toString('latin1')]);
    }
    if (this.#action !== null) out.push(['X-Sidecar-Action', this.#action]);
    return out;
  }

  /**
   * Adds the headers to res right before its header block is written, by
   * wrapping res.writeHead (which res.end/res.write without writeHead call
   * too, through _implicitHeader). Writes after that throw HeadersSentError.
   */
  attach(res) {
    if (this.#attached === res) return this;
    if (this.#attached !== null) throw new Error('Sidecar session: already attached to another response');
    if (res.headersSent) throw new HeadersSentError('attach');
    this.#attached = res;
    const original = res.writeHead;
    const session = this;
    let done = false;
    res.writeHead = function writeHead(...args) {
      if (done) return original.apply(this, args);
      done = true;
      const headers = session.headers();
      const byName = new Map(); // two X-Sidecar-Patch headers go out as two lines, in order
      for (const [name, value] of headers) byName.set(name, [...(byName.get(name) ?? []), value]);
      for (const [name, values] of byName) this.setHeader(name, values.length === 1 ? values[0] : values);
      session.#sent = true;
      const result = original.apply(this, args);
      if (headers.some(([, value]) => NON_ASCII.test(value))) sendHeaderBlock(this);
      return result;
    };
    return this;
  }

  #current() {
    if (this.#action === 'destroy') return {};
    if (this.#view === null) {
      const view = {};
      for (const [k, v] of Object.entries(this.#data)) define(view, k, v);
      for (const name of this.#writes.keys()) {
        const v = this.#valueOf(name);
        if (v === null) delete view[name];
        else define(view, name, v);
      }
      this.#view = view;
    }
    return this.#view;
  }

  /** The attribute as this request reads it (null: absent). */
  #valueOf(name) {
    const stored = Object.hasOwn(this.#data, name) ? this.#data[name] : null;
    const w = this.#writes.get(name);
    if (w === undefined) return stored;
    return w.merge ? mergePatch(stored, w.value) : w.value;
  }

  /**
   * What name holds after merge(name, delta): the deltas composed, while that
   * is exact; else the merged value, which then replaces the attribute.
   */
  #merged(name, delta) {
    const w = this.#writes.get(name);
    if (w === undefined) return { merge: true, value: delta };
    const composed = w.merge ? compose(w.value, delta) : null;
    return composed !== null ? { merge: true, value: composed } : { merge: false, value: mergePatch(this.#valueOf(name), delta) };
  }

  #writable(what) {
    if (this.#readOnly) throw new Error(this.#readOnly);
    if (this.#sent) throw new HeadersSentError(what);
    return this.#action !== 'destroy';
  }

  #put(name, entry) {
    const before = this.#writes.get(name);
    this.#writes.set(name, entry);
    if (this.#encodePatches().some((p) => p.length > MAX_PATCH_BYTES)) {
      if (before !== undefined) this.#writes.set(name, before);
      else this.#writes.delete(name);
      throw new Error(`Sidecar session: patch too large (over ${MAX_PATCH_BYTES} bytes) after writing "${name}"`);
    }
    this.#view = null;
  }

  /** The X-Sidecar-Patch values: the one deleting replaced objects (if any), then the patch. */
  #encodePatches() {
    const cleared = [];
    const members = [];
    for (const [name, { merge, value }] of this.#writes) {
      if (!merge && isObject(value)) cleared.push(`${asciiJSON(name)}:null`);
      members.push(`${asciiJSON(name)}:${asciiJSON(value)}`);
    }
    return [cleared, members].filter((m) => m.length > 0).map((m) => `{${m.join(',')}}`);
  }
}

/**
 * Sends res's header block now, as Latin-1. Node sends the header block with
 * the first body chunk and in that chunk's encoding: res.end('text') would
 * write our Latin-1-coded UTF-8 principal as UTF-8 once more ("ZoÃ«"), while
 * res.end(buffer) or res.write() in chunked mode write it as Latin-1. An empty
 * Buffer write makes Node queue the header block alone, as Latin-1, so the
 * principal's UTF-8 bytes reach the wire unchanged whatever the body is.
 */
function sendHeaderBlock(res) {
  if (!(res instanceof OutgoingMessage)) return;
  try {
    OutgoingMessage.prototype.write.call(res, EMPTY);
  } catch {
    // A bodiless response under rejectNonStandardBodyWrites: end() sends
    // the header block alone, as Latin-1, anyway.
  }
}

module.exports = { Session, asciiJSON, mergePatch, MAX_PATCH_BYTES };
