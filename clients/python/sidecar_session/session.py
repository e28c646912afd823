"""The session of one request: reads from the verified claims, writes
collected into the response headers of protocol section 3."""

import copy
import threading

from ._json import compose, dumps_ascii, has_null_member, merge_patch, normalize
from .errors import HeadersSent, PatchTooLarge, SessionWriteError

PATCH_HEADER = "X-Sidecar-Patch"
PRINCIPAL_HEADER = "X-Sidecar-Principal"
ACTION_HEADER = "X-Sidecar-Action"
MAX_PATCH_BYTES = 6144


def _check_name(name):
    if not isinstance(name, str) or name == "":
        raise ValueError("sidecar_session: an attribute name is a non-empty string")


def _copy(name, value):
    """value as JSON gives it back (a deep copy); ValueError when it cannot
    be sent as JSON."""
    try:
        dumps_ascii(value)
        return normalize(value)
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValueError("sidecar_session: the value of %r cannot be sent as JSON: %s" % (name, exc)) from None


def _check_principal(principal):
    if principal is None:
        return ""
    if not isinstance(principal, str):
        raise TypeError("sidecar_session: the principal is a string or None")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in principal):
        raise ValueError("sidecar_session: the principal holds a control character")
    try:
        principal.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("sidecar_session: the principal is not valid Unicode") from None
    return principal


class Session:
    """One request's session.

    Reads: get, all, principal, is_new, sid, version, claims. They see this
    request's pending writes. Writes: set, remove, set_principal,
    regenerate, destroy; they are sent as response headers (headers(),
    wsgi_headers(), raw_headers()), which the middlewares add when the
    response starts. A write after that raises HeadersSent.

    set() replaces an attribute with exactly the value given; merge()
    merges a dict into it the way Sidecar applies a patch (RFC 7396:
    members merge, None members delete), so that concurrent requests that
    change different members keep each other's changes. all() and get()
    show the result. A Session is not meant to be shared between threads
    beyond the request's own.
    """

    def __init__(self, claims, read_only=False):
        self._claims = claims
        data = claims.get("data")
        self._data = data if isinstance(data, dict) else {}
        self._read_only = read_only
        # name -> (merge?, merge delta or replacing value; None: removed);
        # insertion order = first touch
        self._writes = {}
        self._principal = None  # pending principal ("" clears), None: untouched
        self._action = None
        self._sent = False
        self._mu = threading.Lock()

    @classmethod
    def anonymous(cls):
        """An empty session whose writes raise: for requests that did not
        come through Sidecar (the middlewares' allow_missing)."""
        return cls({"new": True, "sid": "", "ver": 0, "data": {}}, read_only=True)

    # Reads.

    def get(self, name, default=None):
        """The attribute's value with pending writes applied, or default."""
        data = self.all()
        return data[name] if name in data else default

    def all(self):
        """A copy of the session data with this request's writes applied
        ({} after destroy)."""
        if self._action == "destroy":
            return {}
        out = copy.deepcopy(self._data)
        for name in self._writes:
            value = self._current(name)
            if value is None:
                out.pop(name, None)
            else:
                out[name] = copy.deepcopy(value)
        return out

    def _current(self, name):
        """The attribute as this request reads it (None: absent)."""
        stored = self._data.get(name)
        if name not in self._writes:
            return stored
        merge, value = self._writes[name]
        return merge_patch(stored, value) if merge else value

    def _merged(self, name, delta):
        """What name holds after merge(name, delta): the deltas composed,
        while that is exact; else the merged value, which then replaces
        the attribute."""
        if name not in self._writes:
            return (True, delta)
        merge, earlier = self._writes[name]
        composed = compose(earlier, delta) if merge else None
        if composed is not None:
            return (True, composed)
        return (False, merge_patch(self._current(name), delta))

    def principal(self):
        """The principal (claim sub), reflecting set_principal; None when none."""
        if self._action == "destroy":
            return None
        if self._principal is not None:
            return self._principal or None
        sub = self._claims.get("sub")
        return sub if isinstance(sub, str) and sub != "" else None

    def is_new(self):
        """True when the request came without a live session (claim new)."""
        return bool(self._claims.get("new"))

    def sid(self):
        """The session's public handle (claim sid); "" when none."""
        return self._claims.get("sid", "")

    def version(self):
        """The session version (claim ver); 0 when none."""
        return self._claims.get("ver", 0)

    def claims(self):
        """The verified JWT payload."""
        return self._claims

    # Writes.

    def set(self, name, value):
        """Sets a top-level attribute to exactly value (it replaces what is
        stored). value must be JSON-encodable; it is copied now. None is the
        same as remove(name). Raises ValueError when value holds None as a
        dict member (Sidecar's merge would drop it: use merge() to delete
        members)."""
        _check_name(name)
        value = _copy(name, value)
        if has_null_member(value):
            raise ValueError("sidecar_session: set(%r): the value holds None as a dict member, which Sidecar "
                             "cannot store: leave the member out, or use merge() to delete it" % name)
        self._write(lambda: self._writes.__setitem__(name, (False, value)))

    def merge(self, name, delta):
        """Merges the dict delta into the attribute as RFC 7396 says: its
        members replace the stored dict's, a None member deletes that
        member, dict members merge in turn (an absent or non-dict attribute
        counts as {}). delta is copied now. Raises TypeError when delta is
        not a dict."""
        _check_name(name)
        if not isinstance(delta, dict):
            raise TypeError("sidecar_session: merge(%r) needs a dict" % name)
        delta = _copy(name, delta)
        self._write(lambda: self._writes.__setitem__(name, self._merged(name, delta)))

    def remove(self, name):
        """Deletes a top-level attribute."""
        _check_name(name)
        self._write(lambda: self._writes.__setitem__(name, (False, None)))

    def set_principal(self, principal):
        """Sets the principal (after login); None or "" clears it. Raises
        ValueError for control characters."""
        principal = _check_principal(principal)
        self._write(lambda: setattr(self, "_principal", principal))

    def regenerate(self):
        """Asks for a new session id, keeping the data (after login)."""
        self._write(self._regenerate)

    def _regenerate(self):
        if self._action != "destroy":
            self._action = "regenerate"

    def destroy(self):
        """Deletes the session and its cookie (logout). Pending writes are dropped."""
        self._write(lambda: setattr(self, "_action", "destroy"))

    def _write(self, apply):
        with self._mu:
            if self._read_only:
                raise SessionWriteError(
                    "sidecar_session: no session to write: the request did not come through Sidecar")
            if self._sent:
                raise HeadersSent("sidecar_session: session write after the response headers were sent")
            apply()

    # Output.

    def headers(self):
        """The response headers as an ordered list of (name, value): Patch
        (twice when set() gave an attribute a dict: first a patch that
        deletes those attributes), Principal, Action. The principal is the
        logical string (use wsgi_headers() or raw_headers() to send it).
        Raises PatchTooLarge."""
        if self._action == "destroy":
            return [(ACTION_HEADER, "destroy")]
        out = []
        cleared = {n: None for n, (merge, v) in self._writes.items() if not merge and isinstance(v, dict)}
        patch = {n: v for n, (merge, v) in self._writes.items()}
        for members in (cleared, patch):
            if not members:
                continue
            value = dumps_ascii(members)
            if len(value) > MAX_PATCH_BYTES:
                raise PatchTooLarge("sidecar_session: patch too large (%d bytes, at most %d)"
                                    % (len(value), MAX_PATCH_BYTES))
            out.append((PATCH_HEADER, value))
        if self._principal is not None:
            out.append((PRINCIPAL_HEADER, self._principal))
        if self._action is not None:
            out.append((ACTION_HEADER, self._action))
        return out

    def wsgi_headers(self):
        """headers() as WSGI native strings (see to_wsgi)."""
        return to_wsgi(self.headers())

    def raw_headers(self):
        """headers() as ASGI byte pairs (see to_raw)."""
        return to_raw(self.headers())

    def seal(self):
        """Marks the headers as sent and returns headers(), atomically with
        respect to writes: a later write raises HeadersSent. The middlewares
        call it when the response starts; call it yourself when you add the
        headers to a response by other means."""
        with self._mu:
            self._sent = True
            return self.headers()

    def sent(self):
        """Reports whether seal() was called."""
        return self._sent


def to_wsgi(headers):
    """Converts headers() to WSGI native strings: the principal's UTF-8
    bytes read as Latin-1 (PEP 3333), so the server writes UTF-8 on the wire."""
    return [(n, v.encode("utf-8").decode("latin-1")) for n, v in headers]


def to_raw(headers):
    """Converts headers() to ASGI (bytes, bytes) pairs: lower-case names,
    UTF-8 values."""
    return [(n.lower().encode("ascii"), v.encode("utf-8")) for n, v in headers]
