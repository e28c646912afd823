"""ASGI middleware: verifies X-Sidecar-Session and adds the session's
response headers to the http.response.start message."""

import logging

from .errors import InvalidSession
from .session import Session, to_raw

log = logging.getLogger("sidecar_session")

STATE_KEY = "sidecar_session"


async def default_on_invalid_asgi(scope, receive, send, error):
    """Answers 500 for a missing or invalid session header (the reason is
    logged, never the token)."""
    log.warning("sidecar_session: refusing %s %s: X-Sidecar-Session %s",
                scope.get("method", "?"), scope.get("path", "?"), error.reason)
    body = b"Internal Server Error: invalid session header\n"
    await send({"type": "http.response.start", "status": 500,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode("ascii"))]})
    await send({"type": "http.response.body", "body": body})


def _token(scope):
    values = [v for n, v in scope.get("headers", ()) if n.lower() == b"x-sidecar-session"]
    # Several headers join as a WSGI server would, and so fail as malformed.
    return b",".join(values).decode("latin-1") if values else None


class SidecarASGI:
    """Wraps an ASGI app. The request's Session is
    scope["state"]["sidecar_session"] (Starlette/FastAPI:
    request.state.sidecar_session); the state dict is created if missing.

    sidecar, allow_missing: as for SidecarWSGI. on_invalid is an async
    on_invalid(scope, receive, send, error); default: log and answer 500.

    Only "http" scopes are handled; others (lifespan, websocket) pass
    through untouched. The session's headers (raw UTF-8 bytes) are appended
    to the http.response.start message; a write after it raises HeadersSent.
    """

    def __init__(self, app, sidecar, on_invalid=None, allow_missing=False):
        self.app = app
        self.sidecar = sidecar
        self.on_invalid = on_invalid or default_on_invalid_asgi
        self.allow_missing = allow_missing

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        try:
            session = self.sidecar.session(_token(scope))
        except InvalidSession as err:
            if not (err.reason == "missing" and self.allow_missing):
                await self.on_invalid(scope, receive, send, err)
                return
            session = Session.anonymous()
        state = scope.get("state")
        if state is None:
            state = scope["state"] = {}
        state[STATE_KEY] = session

        async def sidecar_send(message):
            if message.get("type") == "http.response.start" and not session.sent():
                message = dict(message)
                message["headers"] = list(message.get("headers", ())) + to_raw(session.seal())
            await send(message)

        await self.app(scope, receive, sidecar_send)
