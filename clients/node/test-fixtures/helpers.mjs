// Shared by the tests in ../test (kept outside test/ because `node --test
// test/` runs every file there). Not part of the package.

import { createHmac, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import * as esm from '@sidecarproxy/session';

const require = createRequire(import.meta.url);

/** Both entry points, resolved through package.json's exports map. */
export const kits = [['esm', esm], ['cjs', require('@sidecarproxy/session')]];

/** clients/testdata/vectors.json, shared by every kit. */
export const vectors = JSON.parse(readFileSync(new URL('../../testdata/vectors.json', import.meta.url), 'utf8'));

const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** Claims the way Sidecar issues them, at unix time now. */
export function claimsAt(now, extra = {}) {
  const iat = Math.floor(now);
  return { iss: 'sidecar', aud: 'app', iat, exp: iat + 60, jti: 'req-1', sid: '', new: true, data: {}, ver: 0, ...extra };
}

/** An HS256 compact JWS. */
export function signHS256(claims, secret = vectors.hs256_secret) {
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

/** An EdDSA compact JWS with kid. */
export function signEdDSA(claims, privateKey, kid) {
  const input = `${b64({ alg: 'EdDSA', typ: 'JWT', kid })}.${b64(claims)}`;
  return `${input}.${sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
}

/** Starts an http server on a free loopback port; resolves {server, url, close}. */
export async function listen(handler) {
  const server = createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    server,
    url,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(resolve);
    }),
  };
}

/** A loopback URL on which nothing listens (a port that was just free). */
export async function closedPortURL() {
  const { url, close } = await listen(() => {});
  await close();
  return url;
}

/** Polls cond every 5 ms until it is true; fails after timeoutMs (generous: a busy box). */
export async function waitFor(cond, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
