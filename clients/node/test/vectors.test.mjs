// Every case and patch vector of clients/testdata/vectors.json, through both
// entry points.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { kits, vectors } from '../test-fixtures/helpers.mjs';

function sidecarFor(kit, c) {
  const keys = c.verify_with === 'secret' ? { secret: vectors.hs256_secret } : { jwks: vectors.jwks };
  return new kit.Sidecar({
    ...keys,
    issuer: vectors.issuer,
    audience: vectors.audience,
    leeway: vectors.leeway,
    clock: () => c.now,
    logger: null,
  });
}

function applyOps(session, ops) {
  for (const [op, ...args] of ops) {
    if (op === 'principal') session.setPrincipal(...args);
    else session[op](...args);
  }
}

/** headers() with the principal decoded back from Node's Latin-1 form. */
function logicalHeaders(session) {
  return session.headers().map(([name, value]) => [
    name, name === 'X-Sidecar-Principal' ? Buffer.from(value, 'latin1').toString('utf8') : value,
  ]);
}

test('runs on Node 20 or later (package.json engines)', () => {
  const major = Number(process.versions.node.split('.')[0]);
  assert.ok(major >= 20, `node ${process.versions.node} is too old for this kit: install Node 20+ (Debian 12's nodejs is 18)`);
});

test('the vectors cover what the kit spec lists', () => {
  const reasons = new Set(vectors.cases.filter((c) => !c.valid).map((c) => c.reason));
  for (const r of ['malformed', 'algorithm', 'unknown_kid', 'signature', 'missing_claim', 'issuer',
    'audience', 'expired', 'issued_in_future']) {
    assert.ok(reasons.has(r), `no vector for ${r}`);
  }
  assert.ok(vectors.cases.some((c) => c.valid && c.verify_with === 'jwks'));
  assert.ok(vectors.patches.length > 0);
  assert.ok(vectors.patch_errors.length > 0);
});

for (const [entry, kit] of kits) {
  describe(`vectors via ${entry}`, () => {
    for (const c of vectors.cases) {
      test(c.name, async () => {
        const sc = sidecarFor(kit, c);
        if (c.valid) {
          assert.deepEqual(await sc.verify(c.token), c.claims);
          const s = await sc.read({ headers: { 'x-sidecar-session': c.token } });
          assert.deepEqual(s.all(), c.claims.data ?? {});
          assert.equal(s.principal(), c.claims.sub || null);
          assert.equal(s.sid(), c.claims.sid ?? '');
          assert.equal(s.isNew(), c.claims.new === true);
          assert.deepEqual(s.claims(), c.claims);
          return;
        }
        await assert.rejects(sc.verify(c.token), (err) => {
          assert.ok(err instanceof kit.InvalidSessionError, `${err}`);
          assert.equal(err.reason, c.reason);
          assert.ok(!err.message.includes(c.token) || c.token === '', 'the token is not in the message');
          return true;
        });
      });
    }

    for (const p of vectors.patches) {
      test(`patch: ${p.name}`, () => {
        const s = new kit.Session({ data: structuredClone(vectors.patch_start) });
        applyOps(s, p.ops);
        assert.deepEqual(logicalHeaders(s), p.headers);
        assert.deepEqual(s.all(), p.result, 'all() is the data Sidecar stores');
      });
    }

    for (const p of vectors.patch_errors) {
      test(`patch error: ${p.name}`, () => {
        const s = new kit.Session({ data: structuredClone(vectors.patch_start) });
        applyOps(s, p.ops.slice(0, -1));
        assert.throws(() => applyOps(s, p.ops.slice(-1)), TypeError, p.error);
      });
    }
  });
}

test('both entry points share one implementation', () => {
  const [[, esm], [, cjs]] = kits;
  assert.equal(esm.Sidecar, cjs.Sidecar);
  assert.equal(esm.InvalidSessionError, cjs.InvalidSessionError);
  assert.deepEqual(Object.keys(esm).filter((k) => k !== 'default').sort(), Object.keys(cjs).sort());
});
