"""SidecarWSGI behind a real WSGI server (wsgiref on a free port), read with
a raw socket so that the bytes on the wire are checked."""

import json
import threading
import unittest
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from sidecar_session import HeadersSent, Sidecar, SidecarWSGI, SessionWriteError

from .helpers import SECRET, Clock, claims, hs256, raw_http


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def app(environ, start_response):
    s = environ["sidecar.session"]
    path = environ["PATH_INFO"]
    errors = environ["test.errors"]
    if path == "/login/zoe":
        s.set("cart", {"sku-1": 2})
        s.set("greeting", "grüß dich")
        s.set_principal("Zoë")
        s.regenerate()
    elif path == "/login/tokyo":
        s.set_principal("東京")
    elif path == "/logout":
        s.set("ignored", 1)
        s.destroy()
    elif path == "/late":
        start_response("200 OK", [("Content-Type", "text/plain")])
        try:
            s.set("late", 1)
        except HeadersSent as exc:
            errors.append(exc)
        return [b"late"]
    elif path == "/stream":
        def body():
            yield b"first"
            try:
                s.set("streamed", 1)
            except HeadersSent as exc:
                errors.append(exc)
            yield b"second"
        start_response("200 OK", [("Content-Type", "text/plain")])
        return body()
    elif path == "/anonymous":
        try:
            s.set("x", 1)
        except SessionWriteError as exc:
            errors.append(exc)
    body = json.dumps({"all": s.all(), "principal": s.principal(), "new": s.is_new()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


class WSGIServerTest(unittest.TestCase):
    def start(self, **kw):
        self.errors = []
        sc = Sidecar(secret=SECRET, clock=Clock())
        wrapped = SidecarWSGI(app, sc, **kw)

        def outer(environ, start_response):
            environ["test.errors"] = self.errors
            return wrapped(environ, start_response)

        server = make_server("127.0.0.1", 0, outer, server_class=WSGIServer, handler_class=QuietHandler)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()

        def stop():
            server.shutdown()
            server.server_close()
            thread.join()

        self.addCleanup(stop)
        self.port = server.server_address[1]

    def get(self, path, token=None):
        req = "GET %s HTTP/1.0\r\nHost: app\r\n" % path
        if token is not None:
            req += "X-Sidecar-Session: %s\r\n" % token
        raw = raw_http(self.port, (req + "\r\n").encode("ascii"))
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        return lines[0], lines[1:], body

    def test_writes_reach_the_wire_as_utf8(self):
        self.start()
        status, headers, body = self.get("/login/zoe", hs256(claims()))
        self.assertEqual(status, b"HTTP/1.0 200 OK")
        patches = [h for h in headers if h.startswith(b"X-Sidecar-Patch:")]
        self.assertEqual(patches, [b'X-Sidecar-Patch: {"cart":null}',
                                   b'X-Sidecar-Patch: {"cart":{"sku-1":2},"greeting":"gr\\u00fc\\u00df dich"}'])
        self.assertIn("X-Sidecar-Principal: Zoë".encode("utf-8"), headers)
        self.assertIn(b"X-Sidecar-Action: regenerate", headers)
        names = [h.split(b":")[0] for h in headers]
        self.assertLess(names.index(b"X-Sidecar-Patch"), names.index(b"X-Sidecar-Principal"))
        self.assertLess(names.index(b"X-Sidecar-Principal"), names.index(b"X-Sidecar-Action"))
        self.assertEqual(json.loads(body), {"all": {"cart": {"sku-1": 2}, "theme": "dark", "greeting": "grüß dich"},
                                            "principal": "Zoë", "new": False})

    def test_principal_above_latin1(self):
        self.start()
        _, headers, body = self.get("/login/tokyo", hs256(claims()))
        self.assertIn(b"X-Sidecar-Principal: \xe6\x9d\xb1\xe4\xba\xac", headers)
        self.assertEqual(json.loads(body)["principal"], "東京")

    def test_read_only_request_sends_no_session_headers(self):
        self.start()
        _, headers, body = self.get("/read", hs256(claims(sub="Zoë")))
        self.assertFalse([h for h in headers if h.lower().startswith(b"x-sidecar-")])
        self.assertEqual(json.loads(body)["principal"], "Zoë")

    def test_destroy(self):
        self.start()
        _, headers, _ = self.get("/logout", hs256(claims()))
        self.assertEqual([h for h in headers if h.lower().startswith(b"x-sidecar-")],
                         [b"X-Sidecar-Action: destroy"])

    def test_write_after_start_response_raises(self):
        self.start()
        _, headers, body = self.get("/late", hs256(claims()))
        self.assertEqual(body, b"late")
        self.assertEqual(len(self.errors), 1)
        self.assertFalse([h for h in headers if h.lower().startswith(b"x-sidecar-")])

    def test_write_while_streaming_raises(self):
        self.start()
        _, _, body = self.get("/stream", hs256(claims()))
        self.assertEqual(body, b"firstsecond")
        self.assertEqual([type(e) for e in self.errors], [HeadersSent])

    def test_invalid_and_missing_answer_500(self):
        self.start()
        expired = hs256(claims(exp=1))
        for token, reason in ((expired, "expired"), ("garbage", "malformed"), (None, "missing")):
            with self.subTest(reason), self.assertLogs("sidecar_session", "WARNING") as logs:
                status, headers, body = self.get("/read", token)
                self.assertEqual(status, b"HTTP/1.0 500 Internal Server Error")
                self.assertIn(b"invalid session header", body)
            self.assertIn(reason, logs.output[0])
            if token:
                self.assertNotIn(token, "\n".join(logs.output))

    def test_on_invalid_hook(self):
        seen = []

        def on_invalid(environ, start_response, error):
            seen.append(error.reason)
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"login again"]

        self.start(on_invalid=on_invalid)
        status, _, body = self.get("/read", hs256(claims(aud="other")))
        self.assertEqual((status, body, seen), (b"HTTP/1.0 401 Unauthorized", b"login again", ["audience"]))

    def test_allow_missing_gives_a_read_only_session(self):
        self.start(allow_missing=True)
        status, headers, body = self.get("/anonymous")
        self.assertEqual(status, b"HTTP/1.0 200 OK")
        self.assertEqual(json.loads(body), {"all": {}, "principal": None, "new": True})
        self.assertEqual(len(self.errors), 1)
        with self.assertLogs("sidecar_session", "WARNING"):
            status, _, _ = self.get("/read", "bad.token.here")
        self.assertEqual(status, b"HTTP/1.0 500 Internal Server Error", "allow_missing does not admit invalid tokens")


if __name__ == "__main__":
    unittest.main()
