"""SidecarASGI driven by a hand-written receive/send pair.

No ASGI server (uvicorn, hypercorn) is installed here, so the middleware is
exercised at the ASGI boundary itself: the messages it hands to `send` are
exactly what a server would write.
"""

import asyncio
import unittest

from sidecar_session import HeadersSent, Sidecar, SidecarASGI, SessionWriteError

from .helpers import SECRET, Clock, claims, hs256


def scope_for(path, token=None, extra_headers=(), state=None):
    headers = [(b"host", b"app")]
    if token is not None:
        headers.append((b"x-sidecar-session", token.encode("ascii")))
    headers += list(extra_headers)
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
             "path": path, "raw_path": path.encode(), "query_string": b"", "headers": headers}
    if state is not None:
        scope["state"] = state
    return scope


class Recorder:
    def __init__(self):
        self.messages = []

    async def receive(self):
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(self, message):
        self.messages.append(message)

    def start(self):
        return self.messages[0]

    def session_headers(self):
        return [(n, v) for n, v in self.start()["headers"] if n.startswith(b"x-sidecar-")]


class ASGITest(unittest.TestCase):
    def setUp(self):
        self.errors = []
        self.app_headers = [(b"content-type", b"text/plain")]

    async def app(self, scope, receive, send):
        s = scope["state"]["sidecar_session"]
        path = scope["path"]
        if path == "/login":
            s.set("cart", {"sku-1": 2})
            s.set_principal("東京")
            s.regenerate()
        elif path == "/zoe":
            s.set_principal("Zoë")
        elif path == "/logout":
            s.destroy()
        elif path == "/anonymous":
            try:
                s.set("x", 1)
            except SessionWriteError as exc:
                self.errors.append(exc)
        await send({"type": "http.response.start", "status": 200, "headers": self.app_headers})
        if path == "/late":
            try:
                s.set("late", 1)
            except HeadersSent as exc:
                self.errors.append(exc)
        await send({"type": "http.response.body", "body": repr(s.all()).encode()})

    def run_app(self, scope, **kw):
        rec = Recorder()
        mw = SidecarASGI(self.app, Sidecar(secret=SECRET, clock=Clock()), **kw)
        asyncio.run(mw(scope, rec.receive, rec.send))
        return rec

    def test_headers_appended_to_response_start(self):
        rec = self.run_app(scope_for("/login", hs256(claims())))
        self.assertEqual(rec.start()["status"], 200)
        self.assertEqual(rec.start()["headers"][0], (b"content-type", b"text/plain"))
        self.assertEqual(rec.session_headers(), [
            (b"x-sidecar-patch", b'{"cart":null}'),
            (b"x-sidecar-patch", b'{"cart":{"sku-1":2}}'),
            (b"x-sidecar-principal", "東京".encode("utf-8")),
            (b"x-sidecar-action", b"regenerate"),
        ])
        self.assertEqual(self.app_headers, [(b"content-type", b"text/plain")], "the app's list is not modified")
        self.assertEqual(rec.messages[1]["type"], "http.response.body")

    def test_principal_latin1_range_is_raw_utf8(self):
        rec = self.run_app(scope_for("/zoe", hs256(claims())))
        self.assertEqual(rec.session_headers(), [(b"x-sidecar-principal", b"Zo\xc3\xab")])

    def test_destroy(self):
        rec = self.run_app(scope_for("/logout", hs256(claims())))
        self.assertEqual(rec.session_headers(), [(b"x-sidecar-action", b"destroy")])
        self.assertEqual(rec.messages[1]["body"], b"{}")

    def test_state_created_or_kept(self):
        rec = self.run_app(scope_for("/read", hs256(claims())))
        self.assertEqual(rec.session_headers(), [])
        scope = scope_for("/read", hs256(claims()), state={"db": "kept"})
        self.run_app(scope)
        self.assertEqual(scope["state"]["db"], "kept")
        self.assertEqual(scope["state"]["sidecar_session"].principal(), "alice")

    def test_write_after_start_raises(self):
        rec = self.run_app(scope_for("/late", hs256(claims())))
        self.assertEqual([type(e) for e in self.errors], [HeadersSent])
        self.assertEqual(rec.session_headers(), [])

    def test_invalid_answers_500_and_logs_the_reason_only(self):
        token = hs256(claims(iss="evil"))
        with self.assertLogs("sidecar_session", "WARNING") as logs:
            rec = self.run_app(scope_for("/read", token))
        self.assertEqual(rec.start()["status"], 500)
        self.assertIn(b"invalid session header", rec.messages[1]["body"])
        self.assertIn("issuer", logs.output[0])
        self.assertNotIn(token, logs.output[0])

    def test_two_session_headers_are_malformed(self):
        tok = hs256(claims())
        seen = []

        async def on_invalid(scope, receive, send, error):
            seen.append(error.reason)
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        rec = self.run_app(scope_for("/read", tok, [(b"X-Sidecar-Session", tok.encode())]), on_invalid=on_invalid)
        self.assertEqual((seen, rec.start()["status"]), (["malformed"], 401))

    def test_missing(self):
        with self.assertLogs("sidecar_session", "WARNING"):
            rec = self.run_app(scope_for("/read"))
        self.assertEqual(rec.start()["status"], 500)
        rec = self.run_app(scope_for("/anonymous"), allow_missing=True)
        self.assertEqual(rec.start()["status"], 200)
        self.assertEqual(len(self.errors), 1)

    def test_other_scopes_pass_through(self):
        seen = []

        async def app(scope, receive, send):
            seen.append(scope["type"])

        mw = SidecarASGI(app, Sidecar(secret=SECRET))
        scope = {"type": "lifespan"}
        asyncio.run(mw(scope, None, None))
        self.assertEqual((seen, scope), (["lifespan"], {"type": "lifespan"}))


if __name__ == "__main__":
    unittest.main()
