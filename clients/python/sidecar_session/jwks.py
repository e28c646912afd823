"""JWKS handling: turning a JWKS document into verification keys, and a
thread-safe cache of a JWKS fetched from Sidecar's ops listener.

The ``cryptography`` package is imported only here, and only when a JWKS is
configured: HS256 needs nothing outside the standard library.
"""

import base64
import json
import logging
import threading
import urllib.request

from .errors import MissingDependency

log = logging.getLogger("sidecar_session")

# JWK (kty, crv) -> the JWS alg it verifies. Other JWKs are ignored.
JWK_ALGS = {("OKP", "Ed25519"): "EdDSA", ("EC", "P-256"): "ES256"}

FETCH_TIMEOUT = 2.0


def crypto():
    """Imports and returns the cryptography primitives, or raises
    MissingDependency with a message that says how to install them."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    except ImportError as exc:  # pragma: no cover - depends on the host
        raise MissingDependency(
            "sidecar_session: verifying EdDSA/ES256 (a JWKS) needs the 'cryptography' package: "
            "apt install python3-cryptography, or pip install cryptography"
        ) from exc
    return {
        "InvalidSignature": InvalidSignature,
        "hashes": hashes,
        "ec": ec,
        "ed25519": ed25519,
        "encode_dss_signature": encode_dss_signature,
    }


def _b64(value, size):
    if not isinstance(value, str):
        raise ValueError("not a string")
    raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    if len(raw) != size:
        raise ValueError("wrong length")
    return raw


class PublicKey:
    """One usable JWK: its kid, the alg it verifies, and verify()."""

    def __init__(self, kid, alg, key, c):
        self.kid = kid
        self.alg = alg
        self._key = key
        self._c = c

    def verify(self, signature, signing_input):
        """Reports whether signature (raw bytes; 64 for both algs) is valid."""
        if len(signature) != 64:
            return False
        try:
            if self.alg == "EdDSA":
                self._key.verify(signature, signing_input)
            else:
                r = int.from_bytes(signature[:32], "big")
                s = int.from_bytes(signature[32:], "big")
                der = self._c["encode_dss_signature"](r, s)
                self._key.verify(der, signing_input, self._c["ec"].ECDSA(self._c["hashes"].SHA256()))
        except self._c["InvalidSignature"]:
            return False
        return True


def parse_jwks(doc):
    """Turns a JWKS (dict, or JSON text/bytes) into a list of PublicKey.

    Keys of other types, curves or a contradicting "alg", keys without a
    string kid, keys with "use" other than "sig" and keys whose coordinates
    do not decode are skipped. Raises ValueError when doc is not a JWKS.
    """
    if isinstance(doc, (bytes, bytearray)):
        doc = doc.decode("utf-8")
    if isinstance(doc, str):
        doc = json.loads(doc)
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise ValueError("a JWKS is a JSON object with a \"keys\" array")
    c = crypto()
    keys = []
    for jwk in doc["keys"]:
        if not isinstance(jwk, dict):
            continue
        alg = JWK_ALGS.get((jwk.get("kty"), jwk.get("crv")))
        kid = jwk.get("kid")
        if alg is None or not isinstance(kid, str) or jwk.get("alg", alg) != alg or jwk.get("use", "sig") != "sig":
            continue
        try:
            if alg == "EdDSA":
                key = c["ed25519"].Ed25519PublicKey.from_public_bytes(_b64(jwk.get("x"), 32))
            else:
                x = int.from_bytes(_b64(jwk.get("x"), 32), "big")
                y = int.from_bytes(_b64(jwk.get("y"), 32), "big")
                key = c["ec"].EllipticCurvePublicNumbers(x, y, c["ec"].SECP256R1()).public_key()
        except (ValueError, TypeError):
            continue
        keys.append(PublicKey(kid, alg, key, c))
    return keys


def default_fetcher(url, timeout):
    """GETs url and returns the body bytes; raises OSError on failure."""
    req = urllib.request.Request(url, headers={"Accept": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - operator-configured URL
        if resp.status != 200:
            raise OSError("JWKS answered %d" % resp.status)
        return resp.read(1 << 20)


class RemoteKeys:
    """The keys of a JWKS URL, fetched lazily and cached (thread-safe).

    The document is fetched on first use and again once ttl seconds old.
    refresh() (an unknown kid) refetches at most once per refresh_min
    seconds, measured between such refetches. A failed fetch keeps the
    previous keys and is retried no sooner than refresh_min later. clock()
    returns unix seconds; fetcher(url, timeout) returns the body bytes.
    """

    def __init__(self, url, clock, fetcher=None, ttl=300.0, refresh_min=5.0):
        self.url = url
        self._clock = clock
        self._fetcher = fetcher or default_fetcher
        self._ttl = ttl
        self._refresh_min = refresh_min
        self._lock = threading.Lock()
        self._keys = []
        self._fetched = False  # a fetch has succeeded
        self._next_fetch = None  # clock time of the next lazy fetch; None: now
        self._last_refresh = None  # clock time of the last unknown-kid refetch
        self.last_error = None

    def keys(self):
        """Returns (keys, fetched): the cached keys, fetched first when they
        are due, and whether this call fetched (or tried to)."""
        with self._lock:
            if self._next_fetch is None or self._clock() >= self._next_fetch:
                self._fetch_locked()
                return self._keys, True
            return self._keys, False

    def fetched(self):
        """Reports whether a fetch has ever succeeded."""
        return self._fetched

    def refresh(self):
        """Refetches for an unknown kid unless one ran within refresh_min;
        returns the (possibly new) keys."""
        with self._lock:
            now = self._clock()
            if self._last_refresh is None or now - self._last_refresh >= self._refresh_min:
                self._last_refresh = now
                self._fetch_locked()
            return self._keys

    def _fetch_locked(self):
        now = self._clock()
        try:
            keys = parse_jwks(self._fetcher(self.url, FETCH_TIMEOUT))
        except MissingDependency:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure keeps the old keys
            self.last_error = "%s: %s" % (type(exc).__name__, exc)
            log.warning("sidecar_session: fetching the JWKS from %s failed: %s", self.url, self.last_error)
            self._next_fetch = now + self._refresh_min
            return
        self._keys = keys
        self._fetched = True
        self.last_error = None
        self._next_fetch = now + self._ttl
