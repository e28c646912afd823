"""Verification of the X-Sidecar-Session header (protocol section 2)."""

import base64
import hashlib
import hmac
import re
import time

from ._json import loads_strict
from .errors import InvalidSession
from .jwks import RemoteKeys, crypto, parse_jwks
from .session import Session

MAX_TOKEN_BYTES = 65536
_B64URL = re.compile(r"[A-Za-z0-9_-]*\Z")
_ASYMMETRIC = ("EdDSA", "ES256")


def _b64decode(part):
    if not _B64URL.match(part) or len(part) % 4 == 1:
        raise InvalidSession("malformed", "a part is not base64url without padding")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _json_object(raw, what):
    try:
        value = loads_strict(raw)
    except (ValueError, RecursionError):
        raise InvalidSession("malformed", what + " is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidSession("malformed", what + " is not a JSON object")
    return value


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Sidecar:
    """Verifies X-Sidecar-Session tokens and builds Session objects.

    Give at least one of:
      secret    -- Sidecar's headers.secret (str or bytes): verifies HS256.
      jwks      -- a JWKS document (dict or JSON text): verifies EdDSA/ES256.
      jwks_url  -- where Sidecar serves it (http://<ops.listen>/.well-known/jwks.json),
                   fetched with a 2 s timeout and cached for jwks_ttl seconds
                   (default 300); an unknown kid refetches it, at most once per
                   jwks_refresh_min seconds (default 5).
    Both a secret and a JWKS may be given (migrating HS256 -> EdDSA); each
    key allows only its own algorithm. A JWKS needs the `cryptography`
    package (MissingDependency otherwise).

    issuer (default "sidecar") and audience (default "app") must match;
    leeway (seconds, default 5) absorbs clock skew for exp, iat and nbf.
    clock() returns the current unix time in seconds (default time.time).
    fetcher(url, timeout) -> bytes replaces the HTTP GET of jwks_url.
    """

    def __init__(self, secret=None, jwks=None, jwks_url=None, issuer="sidecar", audience="app",
                 leeway=5.0, clock=None, jwks_refresh_min=5.0, jwks_ttl=300.0, fetcher=None):
        if not secret and jwks is None and not jwks_url:
            raise ValueError("sidecar_session: give secret, jwks or jwks_url")
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        self._secret = secret or None
        self._clock = clock or time.time
        self.issuer = issuer
        self.audience = audience
        self.leeway = float(leeway)
        self._static_keys = []
        if jwks is not None:
            self._static_keys = parse_jwks(jwks)
        self._remote = None
        if jwks_url:
            crypto()  # fail at construction, not at the first request
            self._remote = RemoteKeys(jwks_url, self._clock, fetcher, jwks_ttl, jwks_refresh_min)

    def session(self, token):
        """Verifies token (the header value; None when the request has no
        such header) and returns its Session. Raises InvalidSession."""
        return Session(self.verify(token))

    def verify(self, token):
        """Verifies token and returns its claims (the JWT payload).

        Raises InvalidSession whose reason is the first failing check:
        missing (token is None), malformed (including ""), algorithm, unknown_kid, signature,
        missing_claim, issuer, audience, expired, issued_in_future.
        """
        if token is None:
            raise InvalidSession("missing")
        if isinstance(token, (bytes, bytearray)):
            try:
                token = bytes(token).decode("ascii")
            except UnicodeDecodeError:
                raise InvalidSession("malformed", "not ASCII") from None
        if not isinstance(token, str):
            raise TypeError("token must be str or bytes")
        if len(token.encode("utf-8", "surrogatepass")) > MAX_TOKEN_BYTES:
            raise InvalidSession("malformed", "token longer than %d bytes" % MAX_TOKEN_BYTES)
        parts = token.split(".")
        if len(parts) != 3:
            raise InvalidSession("malformed", "not three dot-separated parts")
        raw = [_b64decode(p) for p in parts]
        header = _json_object(raw[0], "header")
        claims = _json_object(raw[1], "payload")
        if "crit" in header:
            raise InvalidSession("malformed", "crit header")
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise InvalidSession("malformed", "alg is not a string")
        signing_input = (parts[0] + "." + parts[1]).encode("ascii")
        if alg == "HS256" and self._secret is not None:
            mac = hmac.new(self._secret, signing_input, hashlib.sha256).digest()
            if len(raw[2]) != 32 or not hmac.compare_digest(mac, raw[2]):
                raise InvalidSession("signature")
        elif alg in _ASYMMETRIC:
            key = self._find_key(alg, header.get("kid"))
            if not key.verify(raw[2], signing_input):
                raise InvalidSession("signature")
        else:
            raise InvalidSession("algorithm", "alg %s is not allowed" % alg[:20])
        self._check_claims(claims)
        return claims

    def _find_key(self, alg, kid):
        """Returns the JWK that verifies alg/kid (steps 2 and 3)."""
        remote = self._remote
        keys, fresh = list(self._static_keys), True
        if remote is not None:
            fetched, fresh = remote.keys()
            keys += fetched

        def usable(ks):
            return any(k.alg == alg for k in ks)

        def lookup(ks):
            return next((k for k in ks if k.kid == kid and k.alg == alg), None)

        # An unknown kid (or an alg no key has yet: a rotation to ES256)
        # refetches the JWKS, rate-limited, unless this call just fetched it.
        if not fresh and (not usable(keys) or (isinstance(kid, str) and lookup(keys) is None)):
            keys = list(self._static_keys) + remote.refresh()
        if not usable(keys) and (remote is None or remote.fetched()):
            raise InvalidSession("algorithm", "no configured key allows %s" % alg)
        if not isinstance(kid, str):
            raise InvalidSession("unknown_kid", "no kid")
        key = lookup(keys)
        if key is None:
            if remote is not None and remote.last_error:
                raise InvalidSession("unknown_kid", "JWKS unavailable: " + remote.last_error)
            raise InvalidSession("unknown_kid")
        return key

    def _check_claims(self, claims):
        for name in ("iss", "aud", "exp", "iat"):
            if name not in claims:
                raise InvalidSession("missing_claim", name)
        for name in ("exp", "iat"):
            if not _is_number(claims[name]):
                raise InvalidSession("missing_claim", name + " is not a number")
        if "nbf" in claims and not _is_number(claims["nbf"]):
            raise InvalidSession("missing_claim", "nbf is not a number")
        if claims["iss"] != self.issuer:
            raise InvalidSession("issuer")
        aud = claims["aud"]
        if not (aud == self.audience or (isinstance(aud, list) and self.audience in aud)):
            raise InvalidSession("audience")
        now = self._clock()
        if now >= claims["exp"] + self.leeway:
            raise InvalidSession("expired")
        if claims["iat"] > now + self.leeway or ("nbf" in claims and claims["nbf"] > now + self.leeway):
            raise InvalidSession("issued_in_future")
