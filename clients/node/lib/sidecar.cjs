'use strict';
// Sidecar: verifier configuration plus the ways into a request (middleware,
// read(req)).

const { InvalidSessionError } = require('./errors.cjs');
const { KeyStore } = require('./keys.cjs');
const { verifyToken } = require('./verify.cjs');
const { Session } = require('./session.cjs');

const HEADER = 'x-sidecar-session';
const ANONYMOUS = 'Sidecar session: this request did not come through Sidecar (no X-Sidecar-Session), so the session is read-only';

function seconds(value, name, def) {
  if (value === undefined) return def;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new TypeError(`Sidecar: ${name} is a number of seconds >= 0`);
  }
  return value;
}

function secretBytes(secret) {
  if (secret === undefined || secret === null) return null;
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8')
    : secret instanceof Uint8Array ? Buffer.from(secret) : null;
  if (bytes === null) throw new TypeError('Sidecar: secret is a string or bytes');
  if (bytes.length === 0) {
    throw new TypeError('Sidecar: secret is empty (is SIDECAR_HEADERS__SECRET set in the app\'s environment?)');
  }
  return bytes;
}

/**
 * Sidecar verifies X-Sidecar-Session and hands out Session objects.
 *
 * Options (at least one of secret, jwks, jwksUrl):
 * - secret: HS256 key (Sidecar's headers.secret), string or bytes.
 * - jwks: a JWKS document (object or JSON text) for EdDSA / ES256.
 * - jwksUrl: where to fetch it (http://<ops.listen>/.well-known/jwks.json);
 *   2 s timeout, cached jwksTtl seconds (default 300), refetched on an unknown
 *   kid at most once per jwksRefreshMin seconds (default 5).
 * - issuer (default "sidecar"), audience (default "app").
 * - leeway: clock skew allowed, seconds (default 5).
 * - clock: () => unix seconds (default the wall clock).
 * - allowMissing: a request without the header gets an empty, read-only
 *   session instead of an error (default false).
 * - onInvalid(err, req, res, next): the middleware's answer to an invalid or
 *   missing header (default: log the reason, answer 500).
 * - logger: an object with warn() (default console; null: silent).
 */
class Sidecar {
  #ctx;
  #allowMissing;
  #onInvalid;
  #logger;

  constructor(options = {}) {
    const { secret, jwks, jwksUrl } = options;
    if ((secret === undefined || secret === null) && (jwks === undefined || jwks === null) && !jwksUrl) {
      throw new TypeError('Sidecar: configure secret, jwks or jwksUrl');
    }
    const clock = options.clock ?? (() => Date.now() / 1000);
    if (typeof clock !== 'function') throw new TypeError('Sidecar: clock is a function returning unix seconds');
    this.#ctx = {
      secret: secretBytes(secret),
      keys: new KeyStore({
        jwks,
        jwksUrl,
        clock,
        jwksTtl: seconds(options.jwksTtl, 'jwksTtl', 300),
        jwksRefreshMin: seconds(options.jwksRefreshMin, 'jwksRefreshMin', 5),
      }),
      issuer: options.issuer ?? 'sidecar',
      audience: options.audience ?? 'app',
      leeway: seconds(options.leeway, 'leeway', 5),
      clock,
    };
    this.#allowMissing = options.allowMissing === true;
    this.#onInvalid = options.onInvalid ?? null;
    this.#logger = options.logger === undefined ? console : options.logger;
  }

  /**
   * Verifies a compact JWS and resolves its claims. Rejects with
   * InvalidSessionError (err.reason) or, when a needed JWKS cannot be
   * fetched, JwksError.
   */
  verify(token) {
    return verifyToken(token, this.#ctx);
  }

  /**
   * Resolves the Session of a Node request (anything with .headers). A missing
   * header rejects with reason "missing", unless allowMissing.
   */
  async read(req) {
    let token = req.headers[HEADER];
    if (Array.isArray(token)) token = token.join(', ');
    if (token === undefined) {
      if (this.#allowMissing) return new Session({ new: true, sid: '', data: {} }, { readOnly: ANONYMOUS });
      throw new InvalidSessionError('missing');
    }
    return new Session(await this.verify(token));
  }

  /**
   * Express/Connect middleware: sets req.sidecar to the Session and attaches
   * it to res. Invalid or missing header: onInvalid, else log + 500. Other
   * errors (JWKS unreachable) go to next(err).
   */
  middleware({ onInvalid = this.#onInvalid } = {}) {
    return (req, res, next) => {
      this.read(req).then(
        (session) => {
          try {
            session.attach(res);
          } catch (err) {
            next(err); // the response was already sent by an earlier middleware
            return;
          }
          req.sidecar = session;
          next();
        },
        (err) => {
          if (!(err instanceof InvalidSessionError)) {
            next(err);
            return;
          }
          this.#logger?.warn(`sidecar: rejected ${req.method} ${String(req.url).split('?')[0]}: invalid X-Sidecar-Session (${err.reason})`);
          if (onInvalid) {
            onInvalid(err, req, res, next);
            return;
          }
          res.statusCode = 500;
          res.setHeader('Content-Type', 'text/plain; charset=utf-8');
          res.end('Internal Server Error\n');
        },
      );
    };
  }
}

module.exports = { Sidecar };
