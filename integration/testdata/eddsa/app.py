"""The Python app of TestEdDSAEndToEnd (integration/eddsa_test.go), on
wsgiref (threaded): it verifies X-Sidecar-Session with the Python kit given
only Sidecar's JWKS URL, no secret. The same environment and endpoints as
app.php beside it, plus APP_PORT."""

import base64
import json
import os
import pathlib
import socketserver
import sys
import time
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "clients" / "python"))

from sidecar_session import Sidecar, SidecarWSGI  # noqa: E402
from sidecar_session.jwks import default_fetcher  # noqa: E402

NAME = os.environ["APP_NAME"]
GATES = pathlib.Path(os.environ["APP_GATES"])


def counting_fetch(url, timeout):
    with open(os.environ["APP_FETCH_LOG"], "a") as f:
        f.write("fetch\n")
    return default_fetcher(url, timeout)


def reply(start_response, status, doc):
    body = json.dumps(doc).encode()
    # JSON as text/plain, which the test's client keeps as the body
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def invalid(environ, start_response, error):
    return reply(start_response, "401 Unauthorized", {"server": NAME, "reason": error.reason})


def verified(environ, start_response):
    s = environ["sidecar.session"]
    if environ["PATH_INFO"] == "/login":
        user = parse_qs(environ.get("QUERY_STRING", "")).get("user", [""])[0]
        s.set_principal(user)
        s.set("user", user)
        s.regenerate()
    head = environ["HTTP_X_SIDECAR_SESSION"].split(".")[0]
    kid = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))).get("kid")
    return reply(start_response, "200 OK", {"server": NAME, "kid": kid, "sub": s.principal(), "data": s.all()})


kit = SidecarWSGI(verified, Sidecar(jwks_url=os.environ["SIDECAR_JWKS_URL"], fetcher=counting_fetch), on_invalid=invalid)


def application(environ, start_response):
    if environ["PATH_INFO"] == "/hold":  # the token is verified only once the test releases the gate
        gate = GATES / pathlib.Path(parse_qs(environ.get("QUERY_STRING", "")).get("gate", ["none"])[0]).name
        pathlib.Path(str(gate) + ".arrived").write_text(NAME)
        release = pathlib.Path(str(gate) + ".release")
        for _ in range(3000):
            if release.exists():
                break
            time.sleep(0.01)
    return kit(environ, start_response)


class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class Quiet(WSGIRequestHandler):
    def log_request(self, code="-", size="-"):
        pass


if __name__ == "__main__":
    with make_server("127.0.0.1", int(os.environ["APP_PORT"]), application, Server, Quiet) as httpd:
        httpd.serve_forever()
