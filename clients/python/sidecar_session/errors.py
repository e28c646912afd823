"""Exceptions raised by sidecar_session.

Callers branch on the exception type (and, for InvalidSession, on its
``reason``), never on message text.
"""

# The reason codes of InvalidSession, in the order the checks run
# (clients/README.md and the shared kit spec, section 1). "missing" means the
# request carried no X-Sidecar-Session header at all.
REASONS = (
    "missing",
    "malformed",
    "algorithm",
    "unknown_kid",
    "signature",
    "missing_claim",
    "issuer",
    "audience",
    "expired",
    "issued_in_future",
)


class InvalidSession(Exception):
    """The X-Sidecar-Session header is missing or does not verify.

    ``reason`` is one of REASONS. The message never contains the token.
    """

    def __init__(self, reason, detail=""):
        if reason not in REASONS:
            raise ValueError("unknown reason %r" % (reason,))
        self.reason = reason
        self.detail = detail
        super().__init__("invalid X-Sidecar-Session: %s%s" % (reason, ": " + detail if detail else ""))


class SessionWriteError(RuntimeError):
    """A session write that cannot take effect (a programming error).

    Raised for a write after the response headers went out (HeadersSent),
    for a write to the empty session of a request that did not come through
    Sidecar, and by headers() when the patch is too large (PatchTooLarge).
    """


class HeadersSent(SessionWriteError):
    """A session write after the response headers were handed to the server."""


class PatchTooLarge(SessionWriteError):
    """The X-Sidecar-Patch value would pass 6144 bytes (Sidecar would answer 502)."""


class MissingDependency(ImportError):
    """EdDSA/ES256 verification needs the ``cryptography`` package."""


class LockError(Exception):
    """The lock service refused or failed a request.

    ``status`` is the HTTP status, or None when the service could not be
    reached. The message never contains the lease token or the bearer token.
    """

    def __init__(self, message, status=None):
        self.status = status
        super().__init__(message)


class LockNotObtained(LockError):
    """Someone else held the lock for the whole wait (409 "not obtained")."""


class LockUnavailable(LockError):
    """The lock service or its Redis is unreachable (503, or no connection): do not go on unlocked."""


class LockLost(LockError):
    """The lease ran out before it was released (409 "not held")."""
