"""Verifier: every reason code, in order, with tokens signed here."""

import base64
import unittest

from sidecar_session import InvalidSession, Sidecar
from sidecar_session.jwks import parse_jwks

from .helpers import NOW, SECRET, Clock, ECKey, EdKey, b64, b64json, claims, hs256, jwks, signed


class VerifyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ed = EdKey("ed-1")
        cls.es = ECKey("es-1")
        cls.jwks = jwks(cls.ed, cls.es)

    def sc(self, **kw):
        kw.setdefault("clock", Clock())
        return Sidecar(**kw)

    def reason(self, sc, token):
        with self.assertRaises(InvalidSession) as cm:
            sc.verify(token)
        if token and len(token) > 20:
            self.assertNotIn(str(token)[:20], str(cm.exception), "the token must not be in the message")
        return cm.exception.reason

    def test_needs_a_key(self):
        with self.assertRaises(ValueError):
            Sidecar()
        with self.assertRaises(ValueError):
            Sidecar(secret="")

    def test_valid_hs256_returns_claims_and_session(self):
        sc = self.sc(secret=SECRET)
        self.assertEqual(sc.verify(hs256(claims())), claims())
        s = sc.session(hs256(claims()).encode("ascii"))
        self.assertEqual(s.principal(), "alice")
        self.assertEqual(s.get("cart"), {"sku-1": 2})
        self.assertEqual(s.version(), 3)
        self.assertEqual(s.sid(), "ab12")
        self.assertFalse(s.is_new())

    def test_bytes_secret(self):
        self.assertEqual(self.sc(secret=SECRET.encode()).verify(hs256(claims()))["sub"], "alice")

    def test_valid_eddsa_and_es256(self):
        sc = self.sc(jwks=self.jwks)
        self.assertEqual(sc.verify(signed(self.ed, claims()))["sub"], "alice")
        self.assertEqual(sc.verify(signed(self.es, claims()))["sub"], "alice")

    def test_jwks_as_json_text(self):
        import json
        sc = self.sc(jwks=json.dumps(self.jwks))
        self.assertEqual(sc.verify(signed(self.ed, claims()))["sub"], "alice")

    def test_secret_and_jwks_each_allow_their_own_alg(self):
        sc = self.sc(secret=SECRET, jwks=self.jwks)
        self.assertEqual(sc.verify(hs256(claims()))["iss"], "sidecar")
        self.assertEqual(sc.verify(signed(self.ed, claims()))["iss"], "sidecar")

    def test_missing(self):
        sc = self.sc(secret=SECRET)
        self.assertEqual(self.reason(sc, None), "missing")
        # A header that is present but empty is malformed (as the shared vectors say).
        for token in ("", b""):
            self.assertEqual(self.reason(sc, token), "malformed")

    def test_malformed(self):
        sc = self.sc(secret=SECRET)
        good = hs256(claims())
        h, p, s = good.split(".")
        cases = {
            "two parts": h + "." + p,
            "four parts": good + ".x",
            "padding": h + "=." + p + "." + s,
            "bad char": h + "." + p + "." + s[:-1] + "+",
            "impossible length": h + "." + p + "." + s + "A" * (5 - len(s) % 4 if len(s) % 4 != 1 else 4),
            "payload array": h + "." + b64(b"[1,2]") + "." + s,
            "payload not json": h + "." + b64(b"{nope") + "." + s,
            "payload NaN": h + "." + b64(b'{"exp":NaN}') + "." + s,
            "payload not utf-8": h + "." + b64(b'{"a":"\xff"}') + "." + s,
            "header string": b64(b'"HS256"') + "." + p + "." + s,
            "crit": hs256(claims(), header={"alg": "HS256", "crit": ["exp"]}),
            "alg not string": hs256(claims(), header={"alg": 1}),
            "no alg": hs256(claims(), header={"typ": "JWT"}),
            "non-ascii": good[:-1] + "é",
            "non-ascii bytes": good.encode()[:-1] + b"\xc3",
            "too long": hs256(claims(pad="x" * 70000)),
        }
        for name, token in cases.items():
            with self.subTest(name):
                self.assertEqual(self.reason(sc, token), "malformed")

    def test_algorithm(self):
        sc = self.sc(secret=SECRET)
        body = b64json(claims())
        cases = {
            "none": b64json({"alg": "none"}) + "." + body + ".",
            "HS384": hs256(claims(), header={"alg": "HS384"}),
            "RS256": hs256(claims(), header={"alg": "RS256"}),
            "EdDSA without a jwks": signed(self.ed, claims()),
        }
        for name, token in cases.items():
            with self.subTest(name):
                self.assertEqual(self.reason(sc, token), "algorithm")

    def test_hs256_signed_with_the_public_key_under_jwks_is_algorithm(self):
        x = base64.urlsafe_b64decode(self.ed.jwk()["x"] + "=")
        forged = hs256(claims(), secret=x)
        forged_text = hs256(claims(), secret=self.ed.jwk()["x"])
        sc = self.sc(jwks=self.jwks)
        self.assertEqual(self.reason(sc, forged), "algorithm")
        self.assertEqual(self.reason(sc, forged_text), "algorithm")

    def test_es256_under_an_ed25519_only_jwks_is_algorithm(self):
        sc = self.sc(jwks=jwks(self.ed))
        self.assertEqual(self.reason(sc, signed(self.es, claims())), "algorithm")

    def test_unknown_kid(self):
        sc = self.sc(jwks=self.jwks)
        other = EdKey("ed-other")
        cases = {
            "unknown": signed(other, claims()),
            "no kid": signed(self.ed, claims(), header={"alg": "EdDSA"}),
            "kid not a string": signed(self.ed, claims(), header={"alg": "EdDSA", "kid": 1}),
            "kid of a key of the other alg": signed(self.ed, claims(), header={"alg": "EdDSA", "kid": "es-1"}),
        }
        for name, token in cases.items():
            with self.subTest(name):
                self.assertEqual(self.reason(sc, token), "unknown_kid")

    def test_signature(self):
        sc = self.sc(secret=SECRET, jwks=self.jwks)
        good = hs256(claims())
        h, p, s = good.split(".")
        tampered_payload = h + "." + b64json(claims(sub="mallory")) + "." + s
        short_sig = h + "." + p + "." + b64(base64.urlsafe_b64decode(s + "=")[:31])
        ed_tok = signed(self.ed, claims())
        eh, ep, es = ed_tok.split(".")
        es_tok = signed(self.es, claims())
        xh, xp, xs = es_tok.split(".")
        cases = {
            "wrong secret": hs256(claims(), secret="another-secret"),
            "tampered payload": tampered_payload,
            "short hmac": short_sig,
            "empty sig": h + "." + p + ".",
            "eddsa tampered": eh + "." + b64json(claims(sub="mallory")) + "." + es,
            "eddsa short": eh + "." + ep + "." + b64(b"\0" * 63),
            "es256 tampered": xh + "." + b64json(claims(sub="mallory")) + "." + xs,
            "es256 DER instead of raw": xh + "." + xp + "." + b64(b"\x30" + b"\0" * 70),
            "es256 zero": xh + "." + xp + "." + b64(b"\0" * 64),
        }
        for name, token in cases.items():
            with self.subTest(name):
                self.assertEqual(self.reason(sc, token), "signature")

    def test_claims(self):
        sc = self.sc(secret=SECRET)
        cases = [
            ("missing_claim", claims(exp=None)),
            ("missing_claim", claims(iat=None)),
            ("missing_claim", claims(iss=None)),
            ("missing_claim", claims(aud=None)),
            ("missing_claim", claims(exp="1800000060")),
            ("missing_claim", claims(iat=True)),
            ("missing_claim", claims(nbf="soon")),
            ("issuer", claims(iss="other")),
            ("issuer", claims(iss=["sidecar"])),
            ("audience", claims(aud="other")),
            ("audience", claims(aud=["x", "y"])),
            ("audience", claims(aud={"app": 1})),
            ("expired", claims(exp=NOW - 5)),
            ("expired", claims(exp=NOW - 5.5)),
            ("issued_in_future", claims(iat=NOW + 5.001)),
            ("issued_in_future", claims(nbf=NOW + 6)),
            # The order: issuer is checked before expiry.
            ("issuer", claims(iss="other", exp=NOW - 100)),
        ]
        for reason, payload in cases:
            with self.subTest(reason=reason, payload=payload):
                self.assertEqual(self.reason(sc, hs256(payload)), reason)

    def test_leeway_edges(self):
        sc = self.sc(secret=SECRET)
        for payload in (claims(exp=NOW - 4), claims(exp=NOW - 4.999), claims(iat=NOW + 5),
                        claims(nbf=NOW + 5), claims(aud=["x", "app"]), claims(exp=float(NOW + 1))):
            with self.subTest(payload=payload):
                sc.verify(hs256(payload))

    def test_configurable_issuer_audience_leeway(self):
        clock = Clock()
        sc = Sidecar(secret=SECRET, issuer="edge", audience="shop", leeway=0, clock=clock)
        sc.verify(hs256(claims(iss="edge", aud="shop")))
        self.assertEqual(self.reason(sc, hs256(claims(iss="edge", aud="shop", iat=NOW + 0.5))), "issued_in_future")
        clock.now = NOW + 60
        self.assertEqual(self.reason(sc, hs256(claims(iss="edge", aud="shop"))), "expired")

    def test_jwks_skips_unusable_keys(self):
        doc = {"keys": [
            {"kty": "RSA", "n": "x", "e": "AQAB", "kid": "rsa"},
            {"kty": "OKP", "crv": "X25519", "x": self.ed.jwk()["x"], "kid": "x"},
            dict(self.ed.jwk(), kid="bad-alg", alg="ES256"),
            dict(self.ed.jwk(), kid="enc", use="enc"),
            dict(self.ed.jwk(), kid="short", x="AAAA"),
            {k: v for k, v in self.ed.jwk().items() if k != "kid"},
            "not an object",
            self.es.jwk(),
        ]}
        self.assertEqual([(k.kid, k.alg) for k in parse_jwks(doc)], [("es-1", "ES256")])
        with self.assertRaises(ValueError):
            parse_jwks({"nokeys": []})


if __name__ == "__main__":
    unittest.main()
