"""The demo shop in Python, on the standard library's wsgiref (threaded).

    DEMO_SERVER_NAME=app1 DEMO_PORT=8081 SIDECAR_HEADERS__SECRET=... python3 examples/demo/python/app.py

Every page reads the session through the Python kit (clients/python);
logins, cart changes and logouts write it back through Sidecar's headers.
"""

import hashlib
import hmac
import html
import json
import os
import pathlib
import socketserver
import sys
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent.parent / "clients" / "python"))

from sidecar_session import Sidecar, SidecarWSGI  # noqa: E402  (after the path)

SHOP = json.loads((HERE.parent / "shop.json").read_text(encoding="utf-8"))
SERVER = os.environ.get("DEMO_SERVER_NAME") or "python"


def shop(environ, start_response):
    s = environ["sidecar.session"]
    path = environ.get("PATH_INFO") or "/"
    form = read_form(environ) if environ["REQUEST_METHOD"] == "POST" else None

    # A form posted with the cookie a login has just replaced: write nothing
    # (Sidecar would answer 409) and let the browser repeat it with the new one.
    if form is not None and s.claims().get("replaced"):
        return see_other(start_response, path)

    if path == "/":
        return page(start_response, s, "Products", products_html())
    if path == "/login":
        if form is None:
            return page(start_response, s, "Log in", login_html(""))
        user = find_user(form.get("user", ""), form.get("password", ""))
        if user is None:
            return page(start_response, s, "Log in", login_html("Wrong user name or password."), "401 Unauthorized")
        s.set_principal(user["login"])
        s.set("user", {"login": user["login"], "name": user["name"]})
        s.regenerate()  # a new cookie after login: no session fixation
        return see_other(start_response, "/")
    if path == "/cart":
        if form is None:
            return page(start_response, s, "Cart", cart_html(s.get("cart", {})))
        sku = form.get("sku", "")
        count = s.get("cart", {}).get(sku, 0) + (-1 if form.get("op") == "remove" else 1)
        if product(sku):
            # merge(): only this SKU changes (None deletes it), so two tabs adding
            # different products at once both count; set() would replace the cart.
            s.merge("cart", {sku: count if count > 0 else None})
        return see_other(start_response, "/cart")
    if path == "/logout":
        if form is not None:
            s.destroy()
        return see_other(start_response, "/")
    return page(start_response, s, "Not found", "<p>No such page.</p>", "404 Not Found")


def read_form(environ):
    try:
        size = min(int(environ.get("CONTENT_LENGTH") or 0), 64 << 10)
    except ValueError:
        size = 0
    body = environ["wsgi.input"].read(size).decode("utf-8", "replace")
    return {k: v[0] for k, v in parse_qs(body).items()}


def see_other(start_response, to):
    start_response("303 See Other", [("Location", to), ("Content-Length", "0")])
    return [b""]


def h(s):
    return html.escape(str(s), quote=True)


def money(cents):
    return h(SHOP["currency"]) + "%.2f" % (cents / 100)


def product(sku):
    return next((p for p in SHOP["products"] if p["sku"] == sku), None)


def same(a, b):
    return hmac.compare_digest(hashlib.sha256(a.encode()).digest(), hashlib.sha256(b.encode()).digest())


def find_user(login, password):
    return next((u for u in SHOP["users"] if same(u["login"], login) and same(u["password"], password)), None)


def page(start_response, s, title, main, status="200 OK"):
    user = s.get("user")
    if user:
        who = ('<span id="who">Logged in as <b>%s</b> (%s)</span>' % (h(user["name"]), h(user["login"]))
               + ' <form class="inline" method="post" action="/logout"><button id="logout">Log out</button></form>')
    else:
        who = '<span id="who">Not logged in</span> · <a id="login-link" href="/login">Log in</a>'
    items = sum(s.get("cart", {}).values())
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>%s · Sidecar shop</title>' % h(title)
        + "<style>body{font:16px system-ui,sans-serif;max-width:42em;margin:2em auto}form.inline{display:inline}"
        + "footer{margin-top:2em;color:#666;font-size:.9em}td,th{padding:.2em .8em;text-align:left}</style></head><body>"
        + '<header><a href="/">Sidecar shop</a> · <a id="cart-link" href="/cart">Cart (%d)</a> · %s</header>' % (items, who)
        + "<h1>%s</h1>%s" % (h(title), main)
        + '<footer>Answered by <b id="server">%s</b> (Python) · session <code id="sid">%s</code>' % (h(SERVER), h(s.sid() or "none"))
        + ' · version <span id="ver">%d</span></footer></body></html>' % int(s.version())
    ).encode("utf-8")
    start_response(status, [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def products_html():
    rows = "".join(
        "<tr><td>%s</td><td>%s</td><td>" % (h(p["name"]), money(p["price_cents"]))
        + '<form method="post" action="/cart"><input type="hidden" name="sku" value="%s">' % h(p["sku"])
        + '<button id="add-%s">Add to cart</button></form></td></tr>' % h(p["sku"])
        for p in SHOP["products"]
    )
    return '<table id="products">%s</table>' % rows


def cart_html(cart):
    rows, total = [], 0
    for sku, count in cart.items():
        p = product(sku)
        if p is None:
            continue
        total += count * p["price_cents"]
        rows.append(
            '<li data-sku="%s" data-count="%d">%s × %d' % (h(sku), count, h(p["name"]), count)
            + ' <form class="inline" method="post" action="/cart"><input type="hidden" name="sku" value="%s">' % h(sku)
            + '<input type="hidden" name="op" value="remove"><button id="remove-%s">Remove one</button></form></li>' % h(sku)
        )
    if not rows:
        return '<p id="empty">Your cart is empty.</p>'
    return '<ul id="cart">%s</ul><p>Total: <span id="total">%s</span></p>' % ("".join(rows), money(total))


def login_html(error):
    return (
        ('<p id="error">%s</p>' % h(error) if error else "")
        + '<form id="login" method="post" action="/login">'
        + '<p><label>User <input name="user" autocomplete="username"></label></p>'
        + '<p><label>Password <input name="password" type="password" autocomplete="current-password"></label></p>'
        + '<p><button id="login-button">Log in</button></p></form>'
        + "<p>Demo users: alice / wonderland, bob / builder, zoë / brûlée.</p>"
    )


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    """wsgiref's server, one thread per request (a slow page blocks no other)."""

    daemon_threads = True


class QuietHandler(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):
        pass  # Sidecar's access log has every request


def main():
    # The header secret, or a JWKS URL for EdDSA/ES256 (then no secret at all).
    options = {}
    if os.environ.get("SIDECAR_HEADERS__SECRET"):
        options["secret"] = os.environ["SIDECAR_HEADERS__SECRET"]
    if os.environ.get("SIDECAR_JWKS_URL"):
        options["jwks_url"] = os.environ["SIDECAR_JWKS_URL"]
    app = SidecarWSGI(shop, Sidecar(**options))  # Sidecar() raises when neither is set
    port = int(os.environ.get("DEMO_PORT") or 8081)
    with make_server("127.0.0.1", port, app, ThreadingWSGIServer, QuietHandler) as httpd:
        print("demo shop (%s) on http://127.0.0.1:%d/" % (SERVER, port), flush=True)
        httpd.serve_forever()


if __name__ == "__main__":
    main()
