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

/** RFC 7396 JSON Merge Patch, as Sidecar applies X-Sidecar-Patch; returns a new value. */
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

function checkName(name) {
  if (typeof name !== 'string' || name === '') {
    throw new TypeError('Sidecar session: an attribute name is a non-empty string');
  }
}

/**
 * Session: one request's view of its Sidecar session. Build it with
 * sidecar.read(req) (or `new Session(claims)` from verified claims).
 *
 * Reads see this request's pending writes. Writes are collected and sent as
 * one X-Sidecar-Patch (first-touch order, last write per name wins), plus
 * X-Sidecar-Principal and X-Sidecar-Action, by attach(res) or headers().
 * destroy() wins: it drops pending writes and ignores later ones.
 */
class Session {
  #claims;
  #data;
  #patch = new Map();
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
   * Sets a top-level attribute (the value is copied through JSON). An object
   * value merges into an existing object as RFC 7396 says; a null member
   * inside it deletes that key. Throws when the patch would pass 6144 bytes.
   */
  set(name, value) {
    checkName(name);
    if (!this.#writable('set')) return this;
    if (value === undefined) throw new TypeError('Sidecar session: set() needs a value; use remove()');
    this.#put(name, JSON.parse(asciiJSON(value)));
    return this;
  }

  /** Removes a top-level attribute. */
  remove(name) {
    checkName(name);
    if (this.#writable('remove')) this.#put(name, null);
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
      this.#patch.clear();
      this.#principal = undefined;
      this.#view = null;
    }
    return this;
  }

  /**
   * The response headers for the pending writes, as [name, value] pairs in the
   * order Patch, Principal, Action; the principal's UTF-8 bytes are given as
   * a Latin-1 string, the way Node writes header values. No I/O.
   */
  headers() {
    if (this.#action === 'destroy') return [['X-Sidecar-Action', 'destroy']];
    const out = [];
    if (this.#patch.size > 0) {
      const value = this.#encodePatch();
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
      for (const [name, value] of headers) this.setHeader(name, value);
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
      const patch = {};
      for (const [name, value] of this.#patch) define(patch, name, value);
      this.#view = mergePatch(this.#data, patch);
    }
    return this.#view;
  }

  #writable(what) {
    if (this.#readOnly) throw new Error(this.#readOnly);
    if (this.#sent) throw new HeadersSentError(what);
    return this.#action !== 'destroy';
  }

  #put(name, value) {
    const had = this.#patch.has(name);
    const before = this.#patch.get(name);
    this.#patch.set(name, value);
    if (this.#encodePatch().length > MAX_PATCH_BYTES) {
      if (had) this.#patch.set(name, before);
      else this.#patch.delete(name);
      throw new Error(`Sidecar session: patch too large (over ${MAX_PATCH_BYTES} bytes) after writing "${name}"`);
    }
    this.#view = null;
  }

  #encodePatch() {
    const members = [];
    for (const [name, value] of this.#patch) members.push(`${asciiJSON(name)}:${asciiJSON(value)}`);
    return `{${members.join(',')}}`;
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
