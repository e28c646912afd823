// The demo shop in Node, on plain node:http (no npm packages):
//   DEMO_SERVER_NAME=app1 DEMO_PORT=8081 SIDECAR_HEADERS__SECRET=... node examples/demo/node/server.mjs
// Every page reads the session through the Node kit (clients/node); logins,
// cart changes and logouts write it back through Sidecar's headers.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { timingSafeEqual, createHash } from 'node:crypto';
import { Sidecar, InvalidSessionError } from '../../../clients/node/index.mjs';

const shop = JSON.parse(readFileSync(new URL('../shop.json', import.meta.url), 'utf8'));
const server = process.env.DEMO_SERVER_NAME || 'node';
const port = Number(process.env.DEMO_PORT || 8081);

// The header secret, or a JWKS URL for EdDSA/ES256 (then no secret at all).
const options = {};
if (process.env.SIDECAR_HEADERS__SECRET) options.secret = process.env.SIDECAR_HEADERS__SECRET;
if (process.env.SIDECAR_JWKS_URL) options.jwksUrl = process.env.SIDECAR_JWKS_URL;
const sc = new Sidecar(options); // throws when neither is set

createServer((req, res) => {
  handle(req, res).catch((err) => {
    console.error(err);
    if (res.headersSent) res.destroy();
    else res.writeHead(500, { 'Content-Type': 'text/plain' }).end('Internal error.\n');
  });
}).listen(port, '127.0.0.1', () => console.log(`demo shop (${server}) on http://127.0.0.1:${port}/`));

async function handle(req, res) {
  let s;
  try {
    s = await sc.read(req);
  } catch (err) {
    if (!(err instanceof InvalidSessionError)) throw err;
    console.error('X-Sidecar-Session refused:', err.reason); // the reason, never the token
    res.writeHead(500, { 'Content-Type': 'text/plain' }).end('This page must be reached through Sidecar.\n');
    return;
  }
  s.attach(res); // the session's headers go out with res.writeHead
  const path = new URL(req.url, 'http://x').pathname;
  const form = req.method === 'POST' ? await readForm(req) : null;

  // A form posted with the cookie a login has just replaced: write nothing
  // (Sidecar would answer 409) and let the browser repeat it with the new one.
  if (form && s.claims().replaced) return seeOther(res, path);

  switch (path) {
    case '/':
      return page(res, s, 'Products', productsHtml());
    case '/login': {
      if (!form) return page(res, s, 'Log in', loginHtml(''));
      const user = findUser(form.get('user') ?? '', form.get('password') ?? '');
      if (!user) return page(res, s, 'Log in', loginHtml('Wrong user name or password.'), 401);
      s.setPrincipal(user.login);
      s.set('user', { login: user.login, name: user.name });
      s.regenerate(); // a new cookie after login: no session fixation
      return seeOther(res, '/');
    }
    case '/cart': {
      if (!form) return page(res, s, 'Cart', cartHtml(s.get('cart', {})));
      const sku = form.get('sku') ?? '';
      const count = (s.get('cart', {})[sku] ?? 0) + (form.get('op') === 'remove' ? -1 : 1);
      // merge(): only this SKU changes (null deletes it), so two tabs adding
      // different products at once both count; set() would replace the cart.
      if (product(sku)) s.merge('cart', { [sku]: count > 0 ? count : null });
      return seeOther(res, '/cart');
    }
    case '/logout':
      if (form) s.destroy();
      return seeOther(res, '/');
    default:
      return page(res, s, 'Not found', '<p>No such page.</p>', 404);
  }
}

async function readForm(req) {
  let body = '';
  req.setEncoding('utf8');
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 64 << 10) break;
  }
  return new URLSearchParams(body);
}

function seeOther(res, to) {
  res.writeHead(303, { Location: to }).end();
}

const h = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const money = (cents) => h(shop.currency) + (cents / 100).toFixed(2);
const product = (sku) => shop.products.find((p) => p.sku === sku);

function same(a, b) { // constant time, whatever the lengths
  const d = (x) => createHash('sha256').update(x).digest();
  return timingSafeEqual(d(a), d(b));
}

function findUser(login, password) {
  return shop.users.find((u) => same(u.login, login) && same(u.password, password));
}

function page(res, s, title, main, status = 200) {
  const user = s.get('user');
  const who = user
    ? `<span id="who">Logged in as <b>${h(user.name)}</b> (${h(user.login)})</span>` +
      ' <form class="inline" method="post" action="/logout"><button id="logout">Log out</button></form>'
    : '<span id="who">Not logged in</span> · <a id="login-link" href="/login">Log in</a>';
  const items = Object.values(s.get('cart', {})).reduce((a, n) => a + n, 0);
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' }).end(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${h(title)} · Sidecar shop</title>` +
      '<style>body{font:16px system-ui,sans-serif;max-width:42em;margin:2em auto}form.inline{display:inline}' +
      'footer{margin-top:2em;color:#666;font-size:.9em}td,th{padding:.2em .8em;text-align:left}</style></head><body>' +
      `<header><a href="/">Sidecar shop</a> · <a id="cart-link" href="/cart">Cart (${items})</a> · ${who}</header>` +
      `<h1>${h(title)}</h1>${main}` +
      `<footer>Answered by <b id="server">${h(server)}</b> (Node) · session <code id="sid">${h(s.sid() || 'none')}</code>` +
      ` · version <span id="ver">${Number(s.version())}</span></footer></body></html>`,
  );
}

function productsHtml() {
  const rows = shop.products.map((p) =>
    `<tr><td>${h(p.name)}</td><td>${money(p.price_cents)}</td><td>` +
      `<form method="post" action="/cart"><input type="hidden" name="sku" value="${h(p.sku)}">` +
      `<button id="add-${h(p.sku)}">Add to cart</button></form></td></tr>`);
  return `<table id="products">${rows.join('')}</table>`;
}

function cartHtml(cart) {
  let total = 0;
  const rows = Object.entries(cart).flatMap(([sku, count]) => {
    const p = product(sku);
    if (!p) return [];
    total += count * p.price_cents;
    return [`<li data-sku="${h(p.sku)}" data-count="${Number(count)}">${h(p.name)} × ${Number(count)}` +
      ` <form class="inline" method="post" action="/cart"><input type="hidden" name="sku" value="${h(p.sku)}">` +
      `<input type="hidden" name="op" value="remove"><button id="remove-${h(p.sku)}">Remove one</button></form></li>`];
  });
  if (rows.length === 0) return '<p id="empty">Your cart is empty.</p>';
  return `<ul id="cart">${rows.join('')}</ul><p>Total: <span id="total">${money(total)}</span></p>`;
}

function loginHtml(error) {
  return (error ? `<p id="error">${h(error)}</p>` : '') +
    '<form id="login" method="post" action="/login">' +
    '<p><label>User <input name="user" autocomplete="username"></label></p>' +
    '<p><label>Password <input name="password" type="password" autocomplete="current-password"></label></p>' +
    '<p><button id="login-button">Log in</button></p></form>' +
    '<p>Demo users: alice / wonderland, bob / builder, zoë / brûlée.</p>';
}
