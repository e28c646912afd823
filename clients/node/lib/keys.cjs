'use strict';
// Public keys for EdDSA and ES256: a static JWKS document and/or one fetched
// from Sidecar's ops listener, with a TTL cache and a rate-limited refetch for
// tokens naming an unknown kid.

const { createPublicKey } = require('node:crypto');
const { JwksError } = require('./errors.cjs');

/** The algorithm a JWK allows, or undefined for a JWK this kit ignores. */
function jwkAlgorithm(jwk) {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  return undefined;
}

/**
 * Imports the usable keys of a JWKS document (an object or its JSON text) into
 * a Map "alg kid" -> KeyObject. Keys without a string kid, of another type,
 * with a different "alg" or a "use" other than "sig", or that do not import,
 * are skipped. Throws a TypeError when doc is not a JWKS document at all.
 */
function importJwks(doc) {
  if (typeof doc === 'string') doc = JSON.parse(doc);
  if (doc === null || typeof doc !== 'object' || !Array.isArray(doc.keys)) {
    throw new TypeError('a JWKS document is an object with a "keys" array');
  }
  const keys = new Map();
  for (const jwk of doc.keys) {
    if (jwk === null || typeof jwk !== 'object' || typeof jwk.kid !== 'string') continue;
    const alg = jwkAlgorithm(jwk);
    if (alg === undefined) continue;
    if (jwk.alg !== undefined && jwk.alg !== alg) continue;
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    const pub = { kty: jwk.kty, crv: jwk.crv, x: jwk.x };
    if (jwk.kty === 'EC') pub.y = jwk.y;
    try {
      keys.set(`${alg} ${jwk.kid}`, createPublicKey({ key: pub, format: 'jwk' }));
    } catch {
      // Not a valid public key: ignored like any other unusable JWK.
    }
  }
  return keys;
}

/** How long a fetch of the JWKS document may take. */
const FETCH_TIMEOUT_MS = 2000;

/**
 * KeyStore holds the static keys and, with a jwksUrl, the last fetched ones.
 * Times come from the injected clock (unix seconds).
 */
class KeyStore {
  #static;
  #url;
  #clock;
  #ttl;
  #refreshMin;
  #fetched = null; // Map, once a fetch succeeded
  #fetchedAt = 0;
  #retryAt = -Infinity; // after a failed fetch, no new attempt before this
  #lastError = null;
  #lastUnknownRefetch = -Infinity;
  #inflight = null;

  constructor({ jwks, jwksUrl, clock, jwksTtl, jwksRefreshMin }) {
    this.#static = jwks === undefined || jwks === null ? new Map() : importJwks(jwks);
    this.#url = jwksUrl || null;
    this.#clock = clock;
    this.#ttl = jwksTtl;
    this.#refreshMin = jwksRefreshMin;
  }

  /** True when keys come (also) from a URL. */
  get remote() {
    return this.#url !== null;
  }

  /**
   * Makes sure a fetched document is present and younger than jwksTtl. A
   * stale copy stays in use while refetching fails; with no copy at all it
   * throws JwksError. After a failure, no new fetch is tried for jwksRefreshMin.
   */
  async ensure() {
    if (this.#url === null) return;
    const now = this.#clock();
    const fresh = this.#fetched !== null && now - this.#fetchedAt < this.#ttl;
    if (fresh) return;
    if (now < this.#retryAt) {
      if (this.#fetched === null) throw this.#lastError;
      return;
    }
    try {
      await this.#refresh();
    } catch (err) {
      if (this.#fetched === null) throw err;
    }
  }

  /** The algorithms the current keys allow. */
  algorithms() {
    const algs = new Set();
    for (const map of [this.#static, this.#fetched]) {
      if (map === null) continue;
      for (const id of map.keys()) algs.add(id.slice(0, id.indexOf(' ')));
    }
    return algs;
  }

  /** The KeyObject for alg + kid, or undefined. */
  lookup(alg, kid) {
    const id = `${alg} ${kid}`;
    return this.#static.get(id) ?? this.#fetched?.get(id);
  }

  /**
   * Refetches after a token named a key (or algorithm) we do not have, at
   * most once per jwksRefreshMin. Resolves true when a refetch succeeded.
   */
  async refetchUnknown() {
    if (this.#url === null) return false;
    const now = this.#clock();
    if (now - this.#lastUnknownRefetch < this.#refreshMin) return false;
    this.#lastUnknownRefetch = now;
    try {
      await this.#refresh();
      return true;
    } catch {
      return false;
    }
  }

  #refresh() {
    // Concurrent verifications share one fetch.
    this.#inflight ??= this.#fetch().finally(() => {
      this.#inflight = null;
    });
    return this.#inflight;
  }

  async #fetch() {
    try {
      const res = await fetch(this.#url, {
        headers: { accept: 'application/json' },
        signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
      });
      if (!res.ok) throw new JwksError(`JWKS ${this.#url}: HTTP ${res.status}`);
      const keys = importJwks(await res.json());
      this.#fetched = keys;
      this.#fetchedAt = this.#clock();
      this.#lastError = null;
    } catch (err) {
      this.#retryAt = this.#clock() + this.#refreshMin;
      this.#lastError = err instanceof JwksError
        ? err : new JwksError(`JWKS ${this.#url}: ${err.message}`, { cause: err });
      throw this.#lastError;
    }
  }
}

module.exports = { KeyStore, importJwks };
