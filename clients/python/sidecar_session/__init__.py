"""sidecar_session: the Python kit for Sidecar (github.com/sidecarproxy/sidecar).

Verifies the X-Sidecar-Session header Sidecar puts on every proxied request
(HS256 with the standard library; EdDSA/ES256 from a JWKS with the
`cryptography` package), exposes the session, collects writes into the
X-Sidecar-Patch/-Principal/-Action response headers, and wraps the lock
service. See README.md.
"""

from .asgi import SidecarASGI
from .errors import (
    REASONS,
    HeadersSent,
    InvalidSession,
    LockError,
    LockLost,
    LockNotObtained,
    LockUnavailable,
    MissingDependency,
    PatchTooLarge,
    SessionWriteError,
)
from .locks import Lease, Locks
from .session import MAX_PATCH_BYTES, Session, to_raw, to_wsgi
from .verifier import Sidecar
from .wsgi import SidecarWSGI

__all__ = [
    "REASONS", "MAX_PATCH_BYTES",
    "Sidecar", "Session", "SidecarWSGI", "SidecarASGI", "Locks", "Lease",
    "to_wsgi", "to_raw",
    "InvalidSession", "SessionWriteError", "HeadersSent", "PatchTooLarge", "MissingDependency",
    "LockError", "LockNotObtained", "LockUnavailable", "LockLost",
]
