// JWKS from a URL: cache, TTL, unknown-kid refetch and its rate limit,
// against a real local http server and an injectable clock.

import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, beforeEach, describe, test } from 'node:test';
import { JwksError, Sidecar } from '@sidecarproxy/session';
import { claimsAt, listen, signEdDSA, signHS256, vectors } from '../test-fixtures/helpers.mjs';

function keyPair(kid) {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { kid, privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'EdDSA', use: 'sig' } };
}

const k1 = keyPair('k1');
const k2 = keyPair('k2');

let served; // the JWKS document the server answers with, or a status number
let fetches;
let srv;
let now;

before(async () => {
  srv = await listen((req, res) => {
    fetches += 1;
    if (typeof served === 'number') {
      res.statusCode = served;
      res.end();
      return;
    }
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(served));
  });
});
after(() => srv.close());
beforeEach(() => {
  served = { keys: [k1.jwk] };
  fetches = 0;
  now = 1_700_000_000;
});

const sidecar = (opts = {}) => new Sidecar({
  jwksUrl: `${srv.url}/.well-known/jwks.json`, clock: () => now, logger: null, ...opts,
});
const token = (key, extra) => signEdDSA(claimsAt(now, extra), key.privateKey, key.kid);
const reason = (r) => (err) => {
  assert.equal(err.reason, r);
  return true;
};

describe('jwksUrl', () => {
  test('fetched once, then served from the cache', async () => {
    const sc = sidecar();
    assert.equal((await sc.verify(token(k1, { sub: 'ann' }))).sub, 'ann');
    assert.equal((await sc.verify(token(k1))).iss, 'sidecar');
    assert.equal(fetches, 1);
  });

  test('concurrent first verifications share one fetch', async () => {
    const sc = sidecar();
    await Promise.all(Array.from({ length: 10 }, () => sc.verify(token(k1))));
    assert.equal(fetches, 1);
  });

  test('an unknown kid refetches: a rotation key published later is found', async () => {
    const sc = sidecar();
    await sc.verify(token(k1));
    served = { keys: [k2.jwk, k1.jwk] };
    assert.ok(await sc.verify(token(k2)));
    assert.equal(fetches, 2);
    assert.ok(await sc.verify(token(k1)), 'the old key still verifies in-flight sessions');
    assert.equal(fetches, 2);
  });

  test('unknown-kid refetches happen at most once per jwksRefreshMin', async () => {
    const sc = sidecar({ jwksRefreshMin: 5 });
    await sc.verify(token(k1));
    const stranger = token(keyPair('nobody'));
    await assert.rejects(sc.verify(stranger), reason('unknown_kid'));
    assert.equal(fetches, 2);
    for (let i = 0; i < 5; i++) await assert.rejects(sc.verify(stranger), reason('unknown_kid'));
    now += 4.9;
    await assert.rejects(sc.verify(stranger), reason('unknown_kid'));
    assert.equal(fetches, 2, 'no refetch within jwksRefreshMin');
    served = { keys: [k1.jwk, k2.jwk] };
    await assert.rejects(sc.verify(token(k2)), reason('unknown_kid'), 'still rate-limited');
    now += 0.1;
    assert.ok(await sc.verify(token(k2)), 'after jwksRefreshMin the refetch finds the new key');
    assert.equal(fetches, 3);
  });

  test('the cached document expires after jwksTtl and is refetched lazily', async () => {
    const sc = sidecar({ jwksTtl: 300 });
    await sc.verify(token(k1));
    now += 299;
    await sc.verify(token(k1));
    assert.equal(fetches, 1);
    now += 1;
    await sc.verify(token(k1));
    assert.equal(fetches, 2);
  });

  test('a key removed from the document stops verifying after the TTL', async () => {
    const sc = sidecar({ jwksTtl: 60 });
    await sc.verify(token(k1));
    served = { keys: [k2.jwk] };
    now += 60;
    await assert.rejects(sc.verify(token(k1)), reason('unknown_kid'));
  });

  test('an unreachable URL with a cached copy keeps the stale keys and retries after jwksRefreshMin', async () => {
    const sc = sidecar({ jwksTtl: 60, jwksRefreshMin: 5 });
    await sc.verify(token(k1));
    served = 503;
    now += 60;
    assert.ok(await sc.verify(token(k1)), 'stale keys still verify');
    assert.equal(fetches, 2);
    assert.ok(await sc.verify(token(k1)));
    assert.equal(fetches, 2, 'no hammering after a failure');
    served = { keys: [k1.jwk] };
    now += 5;
    assert.ok(await sc.verify(token(k1)));
    assert.equal(fetches, 3);
  });

  test('no copy at all: JwksError (not an invalid session)', async () => {
    served = 500;
    const sc = sidecar();
    await assert.rejects(sc.verify(token(k1)), (err) => err instanceof JwksError && /HTTP 500/.test(err.message));
    served = { keys: 'nope' };
    now += 5;
    await assert.rejects(sc.verify(token(k1)), JwksError);
  });

  test('a server that never answers times out after 2 s', async () => {
    const hang = await listen(() => {});
    try {
      const sc = new Sidecar({ jwksUrl: hang.url, clock: () => now, logger: null });
      const started = Date.now();
      await assert.rejects(sc.verify(token(k1)), JwksError);
      const took = Date.now() - started;
      assert.ok(took >= 1900 && took < 10000, `took ${took} ms`);
    } finally {
      await hang.close();
    }
  });

  test('HS256 with a secret never fetches; an HS256 token without a secret is "algorithm"', async () => {
    const both = sidecar({ secret: vectors.hs256_secret });
    assert.ok(await both.verify(signHS256(claimsAt(now))));
    assert.equal(fetches, 0);
    await assert.rejects(sidecar().verify(signHS256(claimsAt(now))), reason('algorithm'));
  });

  test('an ES256 token against an EdDSA-only document is "algorithm"', async () => {
    const c = vectors.cases.find((v) => v.valid && v.name.startsWith('es256'));
    const sc = sidecar();
    now = c.now;
    await assert.rejects(sc.verify(c.token), reason('algorithm'));
  });

  test('static jwks and jwksUrl together: both sets verify', async () => {
    const sc = sidecar({ jwks: { keys: [k2.jwk] } });
    assert.ok(await sc.verify(token(k2)));
    assert.equal(fetches, 1, 'the URL is read when an asymmetric token comes');
    assert.ok(await sc.verify(token(k1)));
  });
});
