// Session reads and writes, and the Sidecar constructor's checks.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Sidecar, Session, HeadersSentError, InvalidSessionError, MAX_PATCH_BYTES } from '@sidecarproxy/session';
import { claimsAt, signHS256, vectors } from '../test-fixtures/helpers.mjs';

const existing = () => new Session(claimsAt(1000, {
  sid: 'ab12', new: false, sub: 'ann', ver: 7,
  data: { cart: { 'sku-1': 1, 'sku-2': 5 }, theme: 'dark', n: 1 },
}));

describe('reads see this request\'s pending writes', () => {
  test('set, remove and the default', () => {
    const s = existing();
    s.set('a', 1).remove('theme');
    assert.equal(s.get('a'), 1);
    assert.equal(s.get('theme'), null);
    assert.equal(s.get('theme', 'light'), 'light');
    assert.equal(s.get('n'), 1, 'untouched attributes stay');
    assert.deepEqual(Object.keys(s.all()).sort(), ['a', 'cart', 'n']);
  });

  test('set() replaces: an object value goes after a patch that deletes the attribute', () => {
    const s = existing();
    s.set('cart', { 'sku-3': 2 });
    assert.deepEqual(s.get('cart'), { 'sku-3': 2 });
    assert.deepEqual(s.headers(), [['X-Sidecar-Patch', '{"cart":null}'], ['X-Sidecar-Patch', '{"cart":{"sku-3":2}}']]);
  });

  test('merge() merges into the stored object as Sidecar does (RFC 7396)', () => {
    const s = existing();
    s.merge('cart', { 'sku-2': null, 'sku-3': 2 });
    assert.deepEqual(s.get('cart'), { 'sku-1': 1, 'sku-3': 2 });
    assert.deepEqual(s.headers(), [['X-Sidecar-Patch', '{"cart":{"sku-2":null,"sku-3":2}}']]);
  });

  test('set() refuses null object members, merge() anything but an object', () => {
    const s = existing();
    assert.throws(() => s.set('cart', { 'sku-1': null }), /null as an object member/);
    assert.throws(() => s.set('u', { p: { t: null } }), TypeError, 'nested');
    s.set('l', [null, { x: null }]); // arrays are stored as they are
    for (const bad of [[1], 'x', 5, null, undefined, new Date(0)]) {
      assert.throws(() => s.merge('cart', bad), TypeError, `merge ${bad}`);
    }
    assert.deepEqual(s.headers(), [['X-Sidecar-Patch', '{"l":[null,{"x":null}]}']]);
  });

  test('the principal reflects setPrincipal; "" and null clear it', () => {
    const s = existing();
    assert.equal(s.principal(), 'ann');
    s.setPrincipal('Zoë');
    assert.equal(s.principal(), 'Zoë');
    s.setPrincipal('');
    assert.equal(s.principal(), null);
    s.setPrincipal(null);
    assert.equal(s.principal(), null);
    assert.deepEqual(s.headers(), [['X-Sidecar-Principal', '']]);
  });

  test('reads hand out copies', () => {
    const s = existing();
    s.get('cart')['sku-9'] = 9;
    s.all().theme = 'x';
    const value = { deep: { x: 1 } };
    s.set('v', value);
    value.deep.x = 2;
    assert.deepEqual(s.get('cart'), { 'sku-1': 1, 'sku-2': 5 });
    assert.equal(s.get('theme'), 'dark');
    assert.deepEqual(s.get('v'), { deep: { x: 1 } });
    assert.equal(s.claims().data.cart['sku-9'], undefined);
  });

  test('claims, sid, version, isNew', () => {
    const s = existing();
    assert.equal(s.sid(), 'ab12');
    assert.equal(s.version(), 7);
    assert.equal(s.isNew(), false);
    assert.equal(s.claims().jti, 'req-1');
    const empty = new Session();
    assert.equal(empty.sid(), '');
    assert.equal(empty.version(), 0);
    assert.equal(empty.isNew(), true);
    assert.deepEqual(empty.all(), {});
  });

  test('"__proto__" is an ordinary attribute name', () => {
    const s = new Session();
    s.set('__proto__', { polluted: true });
    assert.equal({}.polluted, undefined);
    assert.deepEqual(s.get('__proto__'), { polluted: true });
    assert.equal(Object.getPrototypeOf(s.all()), Object.prototype);
    assert.deepEqual(s.headers(), [['X-Sidecar-Patch', '{"__proto__":null}'],
      ['X-Sidecar-Patch', '{"__proto__":{"polluted":true}}']]);
    s.merge('__proto__', { more: 1 });
    assert.equal({}.more, undefined);
    assert.deepEqual(s.get('__proto__'), { polluted: true, more: 1 });
  });
});

describe('destroy', () => {
  test('empties reads, drops pending writes and ignores later ones', () => {
    const s = existing();
    s.set('a', 1).setPrincipal('bob').regenerate();
    s.destroy();
    assert.deepEqual(s.all(), {});
    assert.equal(s.get('cart'), null);
    assert.equal(s.principal(), null);
    s.set('b', 2).remove('n').setPrincipal('eve').regenerate();
    assert.deepEqual(s.all(), {});
    assert.equal(s.principal(), null);
    assert.deepEqual(s.headers(), [['X-Sidecar-Action', 'destroy']]);
  });
});

describe('write checks', () => {
  test('the patch never passes MAX_PATCH_BYTES: the write that would throws and changes nothing', () => {
    const s = new Session();
    s.set('a', 'x'.repeat(3000));
    assert.throws(() => s.set('b', 'y'.repeat(3200)), /patch too large/);
    assert.throws(() => s.set('a', 'é'.repeat(1100)), /patch too large/, '6 bytes per escaped char count');
    assert.equal(s.get('b'), null);
    assert.equal(s.get('a'), 'x'.repeat(3000));
    const [[name, value]] = s.headers();
    assert.equal(name, 'X-Sidecar-Patch');
    assert.equal(value, `{"a":"${'x'.repeat(3000)}"}`);
    s.set('b', 'y'.repeat(MAX_PATCH_BYTES - value.length - 7)); // ,"b":"" is 7 bytes
    assert.equal(s.headers()[0][1].length, MAX_PATCH_BYTES, 'exactly the limit is fine');
  });

  test('the principal must not hold control characters', () => {
    for (const bad of ['a\nb', 'a\rb', '\u0000', 'tab\there', 'del\u007f', 'esc\u001b']) {
      const s = new Session();
      assert.throws(() => s.setPrincipal(bad), TypeError, JSON.stringify(bad));
      assert.deepEqual(s.headers(), []);
    }
    assert.throws(() => new Session().setPrincipal(42), TypeError);
    const ok = new Session().setPrincipal('Zoë 東京 \u0080');
    assert.equal(ok.principal(), 'Zoë 東京 \u0080');
  });

  test('names are non-empty strings; values are JSON', () => {
    const s = new Session();
    assert.throws(() => s.set('', 1), TypeError);
    assert.throws(() => s.set(1, 1), TypeError);
    assert.throws(() => s.remove(''), TypeError);
    assert.throws(() => s.set('a', undefined), TypeError);
    assert.throws(() => s.set('a', () => 1), TypeError);
    assert.throws(() => s.set('a', 1n), TypeError);
    s.set('d', new Date(0));
    assert.equal(s.get('d'), '1970-01-01T00:00:00.000Z');
  });

  test('writes after the headers went out throw HeadersSentError', () => {
    const s = new Session();
    const res = fakeResponse();
    s.set('a', 1).attach(res);
    res.writeHead(200);
    assert.deepEqual(res.written, { 'X-Sidecar-Patch': '{"a":1}' });
    for (const write of [() => s.set('b', 1), () => s.remove('a'), () => s.setPrincipal('x'),
      () => s.regenerate(), () => s.destroy()]) {
      assert.throws(write, HeadersSentError);
    }
    assert.throws(() => new Session().attach(res), HeadersSentError, 'attach after the fact');
  });
});

describe('Sidecar.read', () => {
  const sc = (opts = {}) => new Sidecar({ secret: vectors.hs256_secret, clock: () => 1000, logger: null, ...opts });

  test('a missing header is reason "missing"', async () => {
    await assert.rejects(sc().read({ headers: {} }), (err) => err instanceof InvalidSessionError && err.reason === 'missing');
  });

  test('allowMissing gives an empty anonymous session whose writes throw', async () => {
    const s = await sc({ allowMissing: true }).read({ headers: {} });
    assert.equal(s.isNew(), true);
    assert.deepEqual(s.all(), {});
    assert.equal(s.principal(), null);
    assert.throws(() => s.set('a', 1), /did not come through Sidecar/);
    assert.throws(() => s.destroy(), /did not come through Sidecar/);
  });

  test('a present header is verified even with allowMissing', async () => {
    const token = signHS256(claimsAt(1000, { sub: 'ann' }), 'another secret');
    await assert.rejects(sc({ allowMissing: true }).read({ headers: { 'x-sidecar-session': token } }),
      (err) => err.reason === 'signature');
  });

  test('the default leeway is 5 s and the default clock is the wall clock', async () => {
    const now = Date.now() / 1000;
    const s = new Sidecar({ secret: vectors.hs256_secret });
    assert.ok(await s.verify(signHS256(claimsAt(now + 4))));
    await assert.rejects(s.verify(signHS256(claimsAt(now + 7))), (err) => err.reason === 'issued_in_future');
  });
});

describe('Sidecar options', () => {
  test('a key is required, and an empty secret is an error', () => {
    assert.throws(() => new Sidecar({}), /secret, jwks or jwksUrl/);
    assert.throws(() => new Sidecar({ secret: '' }), /SIDECAR_HEADERS__SECRET/);
    assert.throws(() => new Sidecar({ jwks: { nokeys: [] } }), TypeError);
    assert.throws(() => new Sidecar({ secret: 'x', leeway: -1 }), TypeError);
  });

  test('a JWKS given as JSON text works like the parsed document', async () => {
    const c = vectors.cases.find((v) => v.valid && v.verify_with === 'jwks');
    const sc = new Sidecar({ jwks: JSON.stringify(vectors.jwks), clock: () => c.now });
    assert.deepEqual(await sc.verify(c.token), c.claims);
  });

  test('secret and jwks together: each algorithm uses its own key', async () => {
    const ed = vectors.cases.find((v) => v.valid && v.verify_with === 'jwks');
    const hs = vectors.cases.find((v) => v.valid && v.verify_with === 'secret');
    const both = (now) => new Sidecar({ secret: vectors.hs256_secret, jwks: vectors.jwks, clock: () => now });
    assert.deepEqual(await both(ed.now).verify(ed.token), ed.claims);
    assert.deepEqual(await both(hs.now).verify(hs.token), hs.claims);
  });

  test('issuer, audience and leeway are configurable', async () => {
    const token = signHS256(claimsAt(1000, { iss: 'edge', aud: ['x', 'shop'] }));
    const sc = new Sidecar({ secret: vectors.hs256_secret, issuer: 'edge', audience: 'shop', leeway: 0, clock: () => 1059.5 });
    assert.equal((await sc.verify(token)).iss, 'edge');
    const late = new Sidecar({ secret: vectors.hs256_secret, issuer: 'edge', audience: 'shop', leeway: 0, clock: () => 1060 });
    await assert.rejects(late.verify(token), (err) => err.reason === 'expired');
  });

  test('a token over 64 KiB is malformed', async () => {
    const token = signHS256(claimsAt(1000, { data: { big: 'x'.repeat(70000) } }));
    const sc = new Sidecar({ secret: vectors.hs256_secret, clock: () => 1000 });
    await assert.rejects(sc.verify(token), (err) => err.reason === 'malformed');
  });
});

/** Just enough of http.ServerResponse for attach(). */
function fakeResponse() {
  return {
    headersSent: false,
    written: null,
    headers: {},
    setHeader(name, value) {
      this.headers[name] = value;
    },
    writeHead() {
      this.written = { ...this.headers };
      this.headersSent = true;
      return this;
    },
  };
}
