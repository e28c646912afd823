"""WSGI middleware: verifies X-Sidecar-Session and adds the session's
response headers when the app calls start_response."""

import logging

from .errors import InvalidSession
from .session import Session, to_wsgi

log = logging.getLogger("sidecar_session")

ENVIRON_KEY = "sidecar.session"


def default_on_invalid_wsgi(environ, start_response, error):
    """Answers 500 for a missing or invalid session header (the reason is
    logged, never the token)."""
    log.warning("sidecar_session: refusing %s %s: X-Sidecar-Session %s",
                environ.get("REQUEST_METHOD", "?"), environ.get("PATH_INFO", "?"), error.reason)
    body = b"Internal Server Error: invalid session header\n"
    start_response("500 Internal Server Error",
                   [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


class SidecarWSGI:
    """Wraps a WSGI app. The request's Session is environ["sidecar.session"].

    sidecar      -- a Sidecar (the verifier).
    on_invalid   -- on_invalid(environ, start_response, error) answers a
                    request whose header is missing or invalid (error is the
                    InvalidSession); default: log the reason and answer 500.
    allow_missing -- a request without the header (the app reached directly,
                    not through Sidecar) gets an empty session whose writes
                    raise, instead of on_invalid.

    The session's headers are appended to the app's when it calls
    start_response; a session write after that raises HeadersSent.
    The principal is passed as its UTF-8 bytes read as Latin-1 (PEP 3333
    native strings), so it reaches the wire as UTF-8.
    """

    def __init__(self, app, sidecar, on_invalid=None, allow_missing=False):
        self.app = app
        self.sidecar = sidecar
        self.on_invalid = on_invalid or default_on_invalid_wsgi
        self.allow_missing = allow_missing

    def __call__(self, environ, start_response):
        try:
            session = self.sidecar.session(environ.get("HTTP_X_SIDECAR_SESSION"))
        except InvalidSession as err:
            if not (err.reason == "missing" and self.allow_missing):
                return self.on_invalid(environ, start_response, err)
            session = Session.anonymous()
        environ[ENVIRON_KEY] = session

        def sidecar_start_response(status, headers, exc_info=None):
            extra = to_wsgi(session.seal())
            return start_response(status, list(headers) + extra, exc_info)

        return self.app(environ, sidecar_start_response)
