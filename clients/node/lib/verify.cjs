'use strict';
// Verification of the X-Sidecar-Session compact JWS, in the order the kit
// spec fixes: the first failing check names the reason.

const crypto = require('node:crypto');
const { InvalidSessionError } = require('./errors.cjs');

const MAX_TOKEN_BYTES = 65536;
const B64URL = /^[A-Za-z0-9_-]*$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function invalid(reason, detail) {
  return new InvalidSessionError(reason, detail);
}

/** Strict base64url without padding; throws malformed. */
function b64url(part) {
  if (!B64URL.test(part) || part.length % 4 === 1) throw invalid('malformed', 'not base64url');
  return Buffer.from(part, 'base64url');
}

/** Decodes base64url JSON that must be an object; throws malformed. */
function jsonObject(part, what) {
  let value;
  try {
    value = JSON.parse(utf8.decode(b64url(part)));
  } catch (err) {
    if (err instanceof InvalidSessionError) throw err;
    throw invalid('malformed', `${what} is not JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid('malformed', `${what} is not a JSON object`);
  }
  return value;
}

function isNumber(v) {
  return typeof v === 'number' && Number.isFinite(v);
}

/**
 * Verifies token and resolves its payload (the claims).
 * ctx: {secret: Buffer|null, keys: KeyStore, issuer, audience, leeway, clock}.
 * Rejects with InvalidSessionError (reason), or JwksError when a needed JWKS
 * document cannot be fetched.
 */
async function verifyToken(token, ctx) {
  if (token === undefined || token === null) throw invalid('missing');
  if (typeof token !== 'string') throw new TypeError('Sidecar: a token is a string');
  // 1. Shape.
  if (Buffer.byteLength(token, 'utf8') > MAX_TOKEN_BYTES) throw invalid('malformed', 'too long');
  const parts = token.split('.');
  if (parts.length !== 3) throw invalid('malformed', 'not three parts');
  const header = jsonObject(parts[0], 'header');
  const claims = jsonObject(parts[1], 'payload');
  const sig = b64url(parts[2]);
  if (Object.hasOwn(header, 'crit')) throw invalid('malformed', 'crit header');
  const alg = header.alg;
  if (typeof alg !== 'string') throw invalid('malformed', 'alg is not a string');

  // 2-4. Algorithm, key, signature.
  const signed = Buffer.from(`${parts[0]}.${parts[1]}`, 'latin1');
  if (alg === 'HS256') {
    if (ctx.secret === null) throw invalid('algorithm', alg);
    const mac = crypto.createHmac('sha256', ctx.secret).update(signed).digest();
    if (sig.length !== mac.length || !crypto.timingSafeEqual(sig, mac)) throw invalid('signature');
  } else {
    const key = await publicKey(alg, header.kid, ctx.keys);
    if (!verifyAsymmetric(alg, signed, key, sig)) throw invalid('signature');
  }

  // 5-9. Claims.
  checkClaims(claims, ctx);
  return claims;
}

/** Finds the public key for alg + kid (steps 2 and 3), refetching once if allowed. */
async function publicKey(alg, kid, keys) {
  if (alg !== 'EdDSA' && alg !== 'ES256') throw invalid('algorithm', alg);
  await keys.ensure();
  if (!keys.algorithms().has(alg) && !((await keys.refetchUnknown()) && keys.algorithms().has(alg))) {
    throw invalid('algorithm', alg);
  }
  if (typeof kid !== 'string') throw invalid('unknown_kid', 'no kid');
  let key = keys.lookup(alg, kid);
  if (key === undefined && (await keys.refetchUnknown())) key = keys.lookup(alg, kid);
  if (key === undefined) throw invalid('unknown_kid');
  return key;
}

function verifyAsymmetric(alg, signed, key, sig) {
  if (sig.length !== 64) return false;
  try {
    if (alg === 'EdDSA') return crypto.verify(null, signed, key, sig);
    return crypto.verify('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, sig);
  } catch {
    return false;
  }
}

function checkClaims(claims, { issuer, audience, leeway, clock }) {
  for (const name of ['iss', 'aud', 'exp', 'iat']) {
    if (!Object.hasOwn(claims, name)) throw invalid('missing_claim', name);
  }
  if (!isNumber(claims.exp)) throw invalid('missing_claim', 'exp is not a number');
  if (!isNumber(claims.iat)) throw invalid('missing_claim', 'iat is not a number');
  const hasNbf = Object.hasOwn(claims, 'nbf');
  if (hasNbf && !isNumber(claims.nbf)) throw invalid('missing_claim', 'nbf is not a number');
  if (claims.iss !== issuer) throw invalid('issuer');
  const aud = claims.aud;
  const audOK = typeof aud === 'string' ? aud === audience
    : Array.isArray(aud) && aud.some((a) => typeof a === 'string' && a === audience);
  if (!audOK) throw invalid('audience');
  const now = clock();
  if (now >= claims.exp + leeway) throw invalid('expired');
  if (claims.iat > now + leeway) throw invalid('issued_in_future');
  if (hasNbf && claims.nbf > now + leeway) throw invalid('issued_in_future', 'nbf');
}

module.exports = { verifyToken, MAX_TOKEN_BYTES };
