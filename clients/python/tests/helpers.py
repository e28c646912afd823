"""Test helpers: token signing with test keys, and small real HTTP servers.

cryptography is imported only by the EdDSA/ES256 helpers, so that the HS256
tests also run where it is not installed."""

import base64
import hashlib
import hmac
import http.server
import json
import socket
import threading

SECRET = "test-secret-0123456789abcdef"
NOW = 1_800_000_000


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64json(obj):
    return b64(json.dumps(obj, separators=(",", ":")).encode("utf-8"))


def claims(**over):
    """A valid payload at NOW; keyword arguments replace or (None) drop claims."""
    c = {"iss": "sidecar", "aud": "app", "iat": NOW, "exp": NOW + 60, "jti": "req-1",
         "sid": "ab12", "new": False, "sub": "alice", "ver": 3,
         "data": {"cart": {"sku-1": 2}, "theme": "dark"}}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def hs256(payload, secret=SECRET, header=None):
    h = b64json(header or {"alg": "HS256", "typ": "JWT"})
    p = b64json(payload)
    sig = hmac.new(secret.encode() if isinstance(secret, str) else secret,
                   (h + "." + p).encode(), hashlib.sha256).digest()
    return h + "." + p + "." + b64(sig)


class EdKey:
    """An Ed25519 test key with its kid."""

    def __init__(self, kid):
        from cryptography.hazmat.primitives.asymmetric import ed25519
        self.kid = kid
        self.alg = "EdDSA"
        self.priv = ed25519.Ed25519PrivateKey.generate()

    def jwk(self):
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
        x = self.priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64(x), "kid": self.kid, "alg": "EdDSA", "use": "sig"}

    def sign(self, data):
        return self.priv.sign(data)


class ECKey:
    """A P-256 test key with its kid."""

    def __init__(self, kid):
        from cryptography.hazmat.primitives.asymmetric import ec
        self.kid = kid
        self.alg = "ES256"
        self.priv = ec.generate_private_key(ec.SECP256R1())

    def jwk(self):
        n = self.priv.public_key().public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": b64(n.x.to_bytes(32, "big")),
                "y": b64(n.y.to_bytes(32, "big")), "kid": self.kid, "alg": "ES256", "use": "sig"}

    def sign(self, data):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
        r, s = decode_dss_signature(self.priv.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def jwks(*keys):
    return {"keys": [k.jwk() for k in keys]}


def signed(key, payload, header=None):
    h = b64json(header or {"alg": key.alg, "kid": key.kid, "typ": "JWT"})
    p = b64json(payload)
    return h + "." + p + "." + b64(key.sign((h + "." + p).encode()))


class Clock:
    """A settable clock."""

    def __init__(self, now=NOW):
        self.now = now

    def __call__(self):
        return self.now


class JSONServer:
    """A real HTTP server on 127.0.0.1:<free port> in a thread; handler(method,
    path, headers, body) -> (status, dict). It records every request."""

    def __init__(self, handler):
        self.requests = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def _serve(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                outer.requests.append((self.command, self.path, dict(self.headers), body))
                status, obj = handler(self.command, self.path, self.headers, body)
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _serve

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def raw_http(port, request, timeout=10):
    """Sends raw request bytes and returns the whole raw response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(request)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return b"".join(chunks)
