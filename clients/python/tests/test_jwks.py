"""JWKS from a URL: a real HTTP server serves it; cache, TTL, unknown-kid
refetch and its rate limit, failures, timeout and concurrency."""

import socket
import threading
import time
import unittest

from sidecar_session import InvalidSession, Sidecar

from .helpers import NOW, Clock, ECKey, EdKey, JSONServer, claims, jwks, signed


class JWKSURLTest(unittest.TestCase):
    def setUp(self):
        self.k1 = EdKey("k1")
        self.k2 = EdKey("k2")
        self.es = ECKey("es")
        self.doc = jwks(self.k1)
        self.status = 200
        self.server = JSONServer(lambda m, p, h, b: (self.status, self.doc))
        self.addCleanup(self.server.close)
        self.url = self.server.url + "/.well-known/jwks.json"
        self.clock = Clock()

    def fetches(self):
        return len(self.server.requests)

    def sidecar(self, **kw):
        return Sidecar(jwks_url=self.url, clock=self.clock, **kw)

    def reason(self, sc, token):
        with self.assertRaises(InvalidSession) as cm:
            sc.verify(token)
        return cm.exception.reason

    def test_fetched_once_and_cached(self):
        sc = self.sidecar()
        self.assertEqual(self.fetches(), 0, "fetched lazily, not at construction")
        for _ in range(5):
            self.assertEqual(sc.verify(signed(self.k1, claims()))["sub"], "alice")
        self.assertEqual(self.fetches(), 1)
        method, path, headers, _ = self.server.requests[0]
        self.assertEqual((method, path), ("GET", "/.well-known/jwks.json"))

    def test_ttl_refetch(self):
        sc = self.sidecar(jwks_ttl=300)
        sc.verify(signed(self.k1, claims()))
        self.clock.now = NOW + 299
        sc.verify(signed(self.k1, claims(iat=NOW + 299, exp=NOW + 359)))
        self.assertEqual(self.fetches(), 1)
        self.clock.now = NOW + 300
        sc.verify(signed(self.k1, claims(iat=NOW + 300, exp=NOW + 360)))
        self.assertEqual(self.fetches(), 2)

    def test_rotation_unknown_kid_refetches(self):
        sc = self.sidecar()
        sc.verify(signed(self.k1, claims()))
        self.doc = jwks(self.k2, self.k1)  # new key first, old key kept
        self.assertEqual(sc.verify(signed(self.k2, claims()))["sub"], "alice")
        self.assertEqual(self.fetches(), 2)
        # An in-flight token under the old key stays valid.
        self.assertEqual(sc.verify(signed(self.k1, claims()))["sub"], "alice")
        self.assertEqual(self.fetches(), 2)

    def test_unknown_kid_refetch_is_rate_limited(self):
        sc = self.sidecar(jwks_refresh_min=5)
        sc.verify(signed(self.k1, claims()))
        stranger = signed(EdKey("nope"), claims())
        self.assertEqual(self.reason(sc, stranger), "unknown_kid")
        self.assertEqual(self.fetches(), 2)
        self.clock.now = NOW + 4.9
        for _ in range(10):
            self.assertEqual(self.reason(sc, stranger), "unknown_kid")
        self.assertEqual(self.fetches(), 2, "no refetch within jwks_refresh_min")
        self.doc = jwks(self.k1, self.k2)
        self.assertEqual(self.reason(sc, signed(self.k2, claims())), "unknown_kid")
        self.clock.now = NOW + 5
        self.assertEqual(sc.verify(signed(self.k2, claims()))["sub"], "alice")
        self.assertEqual(self.fetches(), 3)

    def test_new_algorithm_in_rotation_refetches(self):
        sc = self.sidecar()
        sc.verify(signed(self.k1, claims()))
        self.doc = jwks(self.es, self.k1)
        self.assertEqual(sc.verify(signed(self.es, claims()))["sub"], "alice")

    def test_hs256_never_verifies_against_a_jwks_url(self):
        from .helpers import hs256
        sc = self.sidecar()
        self.assertEqual(self.reason(sc, hs256(claims(), secret=self.k1.jwk()["x"])), "algorithm")

    def test_failed_fetch_keeps_keys_and_is_retried_later(self):
        sc = self.sidecar(jwks_ttl=10, jwks_refresh_min=5)
        sc.verify(signed(self.k1, claims()))
        self.status = 500
        self.clock.now = NOW + 10
        with self.assertLogs("sidecar_session", "WARNING") as logs:
            self.assertEqual(sc.verify(signed(self.k1, claims()))["sub"], "alice", "stale keys still verify")
        self.assertIn("HTTP Error 500", logs.output[0])
        self.assertEqual(self.fetches(), 2)
        sc.verify(signed(self.k1, claims()))
        self.assertEqual(self.fetches(), 2, "a failed fetch is not retried on every request")
        self.status = 200
        self.clock.now = NOW + 15
        sc.verify(signed(self.k1, claims()))
        self.assertEqual(self.fetches(), 3)

    def test_unreachable_url_is_unknown_kid(self):
        self.status = 503
        sc = self.sidecar()
        with self.assertRaises(InvalidSession) as cm, self.assertLogs("sidecar_session", "WARNING"):
            sc.verify(signed(self.k1, claims()))
        self.assertEqual(cm.exception.reason, "unknown_kid")
        self.assertIn("JWKS unavailable", cm.exception.detail)

    def test_timeout_is_two_seconds(self):
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(5)
        self.addCleanup(listener.close)
        sc = Sidecar(jwks_url="http://127.0.0.1:%d/jwks" % listener.getsockname()[1], clock=self.clock)
        start = time.monotonic()
        with self.assertLogs("sidecar_session", "WARNING") as logs:
            self.assertEqual(self.reason(sc, signed(self.k1, claims())), "unknown_kid")
        self.assertLess(time.monotonic() - start, 4)
        self.assertEqual(len(logs.output), 1, "one fetch attempt per verify")
        self.assertIn("timed out", logs.output[0])

    def test_concurrent_cold_start_fetches_once(self):
        sc = self.sidecar()
        token = signed(self.k1, claims())
        results = []
        barrier = threading.Barrier(8)

        def work():
            barrier.wait()
            results.append(sc.verify(token)["sub"])

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        self.assertEqual(results, ["alice"] * 8)
        self.assertEqual(self.fetches(), 1)

    def test_injected_fetcher(self):
        calls = []

        def fetcher(url, timeout):
            calls.append((url, timeout))
            return b'{"keys":[' + __import__("json").dumps(self.k1.jwk()).encode() + b"]}"

        sc = Sidecar(jwks_url="http://jwks.invalid/", fetcher=fetcher, clock=self.clock)
        self.assertEqual(sc.verify(signed(self.k1, claims()))["sub"], "alice")
        self.assertEqual(calls, [("http://jwks.invalid/", 2.0)])

    def test_static_jwks_plus_url(self):
        sc = Sidecar(jwks=jwks(self.es), jwks_url=self.url, clock=self.clock)
        self.assertEqual(sc.verify(signed(self.es, claims()))["sub"], "alice")
        self.assertEqual(sc.verify(signed(self.k1, claims()))["sub"], "alice")


if __name__ == "__main__":
    unittest.main()
