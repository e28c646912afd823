// Headers reach the wire through a real http.Server: res.end() alone,
// res.write chunks, explicit writeHead, the middleware, and UTF-8 principals.

import assert from 'node:assert/strict';
import { get as httpGet } from 'node:http';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { HeadersSentError, Sidecar } from '@sidecarproxy/session';
import { claimsAt, closedPortURL, listen, signHS256, vectors } from '../test-fixtures/helpers.mjs';

const NOW = 1_700_000_000;
const sc = new Sidecar({ secret: vectors.hs256_secret, clock: () => NOW, logger: null });
const token = signHS256(claimsAt(NOW, { sid: 'h1', new: false, sub: 'ann', ver: 3, data: { n: 1 } }));

/** Routes of the plain-http app: each reads the session, attaches it and answers. */
const routes = {
  // The body goes out with res.end() only: Node writes the header block
  // implicitly (_implicitHeader -> writeHead).
  '/end-only': (s, res) => {
    s.set('cart', { 'sku-1': 2 }).setPrincipal('Zoë').regenerate();
    res.end('done');
  },
  // Chunks: the headers go out with the first write; a later write throws.
  '/chunks': (s, res) => {
    s.set('n', s.get('n') + 1);
    res.write('one,');
    let late = 'no error';
    try {
      s.set('late', true);
    } catch (err) {
      late = err instanceof HeadersSentError ? 'HeadersSentError' : String(err);
    }
    res.write('two,');
    res.end(late);
  },
  // set() of an object: two X-Sidecar-Patch lines; merge() rides in the second.
  '/two-patches': (s, res) => {
    s.merge('cart', { 'sku-1': null }).set('user', { name: 'Zoë' });
    res.end('ok');
  },
  '/writehead-object': (s, res) => {
    s.remove('n');
    res.writeHead(201, { 'Content-Type': 'text/plain' }).end('created');
  },
  '/writehead-array': (s, res) => {
    s.destroy();
    res.writeHead(200, 'Fine', ['Content-Type', 'text/plain', 'X-App', 'yes']).end('bye');
  },
  '/flush-headers': (s, res) => {
    s.set('flushed', 1);
    res.flushHeaders();
    res.end();
  },
  '/principal': (s, res, url) => {
    s.setPrincipal(url.searchParams.get('p'));
    bodyModes[url.searchParams.get('mode')](res);
  },
  '/nothing': (s, res) => res.end(JSON.stringify(s.all())),
};

/** Every way the header block can leave Node, which picks its encoding by the first chunk. */
const bodyModes = {
  'end(string)': (res) => res.end('body ë'),
  'end(buffer)': (res) => res.end(Buffer.from('body ë')),
  'end(string, latin1)': (res) => res.end('body', 'latin1'),
  'end()': (res) => res.end(),
  'write chunks (chunked)': (res) => {
    res.write('body ');
    res.end('ë');
  },
  'write with Content-Length': (res) => {
    res.setHeader('Content-Length', Buffer.byteLength('body ë'));
    res.write('body ë');
    res.end();
  },
  'writeHead then end(string)': (res) => res.writeHead(200).end('body ë'),
  'flushHeaders then end(string)': (res) => {
    res.flushHeaders();
    res.end('body ë');
  },
  '204 No Content': (res) => {
    res.statusCode = 204;
    res.end();
  },
};

let app;
before(async () => {
  app = await listen(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const s = await sc.read(req);
    s.attach(res);
    routes[url.pathname](s, res, url);
  });
});
after(() => app.close());

const get = (path) => fetch(app.url + path, { headers: { 'X-Sidecar-Session': token } });

describe('plain http: await sc.read(req) + session.attach(res)', () => {
  test('res.end() without writeHead still sends the session headers', async () => {
    const res = await get('/end-only');
    assert.equal(await res.text(), 'done');
    assert.equal(res.headers.get('x-sidecar-patch'), '{"cart":null}, {"cart":{"sku-1":2}}');
    assert.equal(Buffer.from(res.headers.get('x-sidecar-principal'), 'latin1').toString('utf8'), 'Zoë');
    assert.equal(res.headers.get('x-sidecar-action'), 'regenerate');
  });

  test('res.write chunks: headers go with the first chunk, later writes throw', async () => {
    const res = await get('/chunks');
    assert.equal(res.headers.get('x-sidecar-patch'), '{"n":2}');
    assert.equal(await res.text(), 'one,two,HeadersSentError');
  });

  test('two patch headers go out as two header lines, in order', async () => {
    const raw = await new Promise((resolve, reject) => {
      httpGet(`${app.url}/two-patches`, { headers: { 'X-Sidecar-Session': token } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.rawHeaders));
      }).on('error', reject);
    });
    const patches = raw.filter((_, i) => i % 2 === 1 && raw[i - 1].toLowerCase() === 'x-sidecar-patch');
    assert.deepEqual(patches, ['{"user":null}', '{"cart":{"sku-1":null},"user":{"name":"Zo\\u00eb"}}']);
  });

  test('explicit writeHead with a headers object keeps both', async () => {
    const res = await get('/writehead-object');
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('content-type'), 'text/plain');
    assert.equal(res.headers.get('x-sidecar-patch'), '{"n":null}');
  });

  test('explicit writeHead with a raw header array keeps both', async () => {
    const res = await get('/writehead-array');
    assert.equal(res.statusText, 'Fine');
    assert.equal(res.headers.get('x-app'), 'yes');
    assert.equal(res.headers.get('x-sidecar-action'), 'destroy');
    assert.equal(res.headers.get('x-sidecar-patch'), null);
  });

  test('flushHeaders sends them too', async () => {
    const res = await get('/flush-headers');
    assert.equal(res.headers.get('x-sidecar-patch'), '{"flushed":1}');
  });

  test('no writes, no headers', async () => {
    const res = await get('/nothing');
    assert.equal(await res.text(), '{"n":1}');
    for (const h of ['x-sidecar-patch', 'x-sidecar-principal', 'x-sidecar-action']) assert.equal(res.headers.get(h), null);
  });
});

/** The body of a raw HTTP/1.1 response, de-chunked, as UTF-8. */
function responseBody(raw) {
  const split = raw.indexOf('\r\n\r\n');
  let rest = raw.subarray(split + 4);
  if (!/\r\nTransfer-Encoding: chunked\r\n/i.test(raw.subarray(0, split + 2).toString('latin1'))) return rest.toString('utf8');
  const chunks = [];
  for (;;) {
    const eol = rest.indexOf('\r\n');
    const size = parseInt(rest.subarray(0, eol).toString('latin1'), 16);
    if (size === 0) return Buffer.concat(chunks).toString('utf8');
    chunks.push(rest.subarray(eol + 2, eol + 2 + size));
    rest = rest.subarray(eol + 4 + size);
  }
}

/** Sends a raw request and resolves the raw response bytes. */
function rawRequest(url, method, path, headers) {
  const { port } = new URL(url);
  return new Promise((resolve, reject) => {
    const chunks = [];
    const sock = connect(port, '127.0.0.1', () => {
      sock.write(`${method} ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`);
    });
    sock.on('data', (c) => chunks.push(c));
    sock.on('end', () => resolve(Buffer.concat(chunks)));
    sock.on('error', reject);
  });
}

describe('UTF-8 principals reach the wire as UTF-8 bytes, whatever the body', () => {
  for (const name of ['Zoë', '東京', 'emoji 𝄞']) {
    for (const mode of Object.keys(bodyModes)) {
      test(`${name} / ${mode}`, async () => {
        const query = `p=${encodeURIComponent(name)}&mode=${encodeURIComponent(mode)}`;
        const raw = await rawRequest(app.url, 'GET', `/principal?${query}`, `X-Sidecar-Session: ${token}\r\n`);
        const line = Buffer.concat([Buffer.from('\r\nX-Sidecar-Principal: '), Buffer.from(name, 'utf8'), Buffer.from('\r\n')]);
        assert.ok(raw.includes(line), `raw response lacks the UTF-8 bytes of ${name}:\n${raw.toString('latin1')}`);
        const body = responseBody(raw);
        if (mode.includes('latin1')) assert.equal(body, 'body');
        else if (mode.includes('latin1')) assert.equal(body, 'body');
        else if (mode === 'end()' || mode.startsWith('204')) assert.equal(body, '');
        else assert.equal(body, 'body ë', 'the body keeps its own encoding');
      });
    }
  }

  test('HEAD: the header block alone', async () => {
    const raw = await rawRequest(app.url, 'HEAD', `/principal?p=Zo%C3%AB&mode=end(string)`, `X-Sidecar-Session: ${token}\r\n`);
    assert.ok(raw.includes(Buffer.from('\r\nX-Sidecar-Principal: Zoë\r\n', 'utf8')), raw.toString('latin1'));
    assert.ok(raw.subarray(raw.length - 4).equals(Buffer.from('\r\n\r\n')), 'no body');
  });
});

describe('middleware (Express/Connect signature)', () => {
  /** A Connect-like chain: middleware, then the handler or the error handler. */
  async function chain(mw, handler) {
    return listen((req, res) => {
      mw(req, res, (err) => {
        if (err) {
          res.statusCode = 599;
          res.end(`next(err): ${err.name}`);
          return;
        }
        handler(req, res);
      });
    });
  }

  test('sets req.sidecar and attaches it: res.end() carries the headers', async () => {
    const srv = await chain(sc.middleware(), (req, res) => {
      req.sidecar.set('seen', req.sidecar.get('n'));
      res.end(req.sidecar.principal());
    });
    try {
      const res = await fetch(srv.url, { headers: { 'X-Sidecar-Session': token } });
      assert.equal(await res.text(), 'ann');
      assert.equal(res.headers.get('x-sidecar-patch'), '{"seen":1}');
    } finally {
      await srv.close();
    }
  });

  test('invalid or missing header: 500 and the reason logged, never the token', async () => {
    const logged = [];
    const strict = new Sidecar({ secret: vectors.hs256_secret, clock: () => NOW, logger: { warn: (m) => logged.push(m) } });
    const srv = await chain(strict.middleware(), (req, res) => res.end('reached'));
    try {
      const bad = signHS256(claimsAt(NOW), 'not the secret');
      const res = await fetch(srv.url + '/p?q=secretish', { headers: { 'X-Sidecar-Session': bad } });
      assert.equal(res.status, 500);
      assert.equal(await res.text(), 'Internal Server Error\n');
      const missing = await fetch(srv.url);
      assert.equal(missing.status, 500);
      await missing.text();
      assert.equal(logged.length, 2);
      assert.match(logged[0], /\(signature\)/);
      assert.match(logged[1], /\(missing\)/);
      assert.ok(!logged.join().includes(bad.split('.')[2]) && !logged.join().includes('secretish'));
    } finally {
      await srv.close();
    }
  });

  test('onInvalid decides the answer; allowMissing lets direct requests through', async () => {
    const custom = new Sidecar({
      secret: vectors.hs256_secret,
      clock: () => NOW,
      logger: null,
      allowMissing: true,
      onInvalid: (err, req, res) => {
        res.statusCode = 401;
        res.end(err.reason);
      },
    });
    const srv = await chain(custom.middleware(), (req, res) => res.end(`anon:${req.sidecar.isNew()}`));
    try {
      const direct = await fetch(srv.url);
      assert.equal(await direct.text(), 'anon:true');
      const expired = signHS256(claimsAt(NOW - 3600));
      const res = await fetch(srv.url, { headers: { 'X-Sidecar-Session': expired } });
      assert.equal(res.status, 401);
      assert.equal(await res.text(), 'expired');
    } finally {
      await srv.close();
    }
  });

  test('other errors (an unreachable JWKS) go to next(err)', async () => {
    const remote = new Sidecar({ jwksUrl: `${await closedPortURL()}/.well-known/jwks.json`, clock: () => NOW, logger: null });
    const srv = await chain(remote.middleware(), (req, res) => res.end('reached'));
    try {
      const header = Buffer.from(JSON.stringify({ alg: 'EdDSA', kid: 'k' })).toString('base64url');
      const ed = `${header}.${token.split('.')[1]}.${Buffer.alloc(64).toString('base64url')}`;
      const res = await fetch(srv.url, { headers: { 'X-Sidecar-Session': ed } });
      assert.equal(res.status, 599);
      assert.equal(await res.text(), 'next(err): JwksError');
    } finally {
      await srv.close();
    }
  });
});
