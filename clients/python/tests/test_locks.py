"""Locks: against a fake lock service (status mapping, bodies, automatic
extension, release) and, when the Go runner provides one, the real lock
service with 10 worker processes."""

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

from sidecar_session import LockError, LockLost, LockNotObtained, Locks, LockUnavailable

from . import SUMMARY
from .helpers import JSONServer

PYTHON_DIR = Path(__file__).resolve().parents[1]
TOKEN = "lock-token-0123456789"


class FakeLockService:
    """Grants one lease per name; answers like docs/locks.md."""

    def __init__(self):
        self.mu = threading.Lock()
        self.held = {}  # name -> token
        self.fence = 1795573567949130
        self.force = {}  # op -> (status, body)
        self.server = JSONServer(self.handle)
        self.url = self.server.url

    def handle(self, method, path, headers, body):
        if headers.get("Authorization") != "Bearer " + TOKEN:
            return 401, {"error": "unauthorized"}
        _, _, rest = path.partition("/locks/")
        name, _, op = rest.rpartition("/")
        if op in self.force:
            return self.force[op]
        req = json.loads(body)
        with self.mu:
            if op == "acquire":
                if name in self.held:
                    return 409, {"error": "not obtained", "name": name}
                self.fence += 7
                self.held[name] = "TOK%d" % self.fence
                return 200, self.lease(name, req["ttl"])
            if self.held.get(name) != req.get("token"):
                return 409, {"error": "not held", "name": name}
            if op == "extend":
                return 200, self.lease(name, req["ttl"])
            del self.held[name]
            return 200, {"name": name, "released": True}

    def lease(self, name, ttl):
        return {"name": name, "token": self.held[name], "fence": self.fence, "fence_string": str(self.fence),
                "ttl_ms": ttl - 3, "expires_at": "2026-11-25T02:27:07.342Z"}

    def ops(self, op):
        return [r for r in self.server.requests if r[1].endswith("/" + op)]


def wait_for(cond, timeout=20):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in %ss" % timeout)
        time.sleep(0.01)


class FakeServiceTest(unittest.TestCase):
    def setUp(self):
        self.svc = FakeLockService()
        self.addCleanup(self.svc.server.close)
        self.locks = Locks(self.svc.url, TOKEN)

    def test_with_lock_acquires_calls_releases(self):
        seen = []
        result = self.locks.with_lock("shop/stock/sku-1", 30, 2.5, lambda lease: seen.append(lease) or "done")
        self.assertEqual(result, "done")
        lease = seen[0]
        self.assertEqual((lease.name, lease.fence, lease.fence_string), ("shop/stock/sku-1", 1795573567949137,
                                                                        "1795573567949137"))
        self.assertIsInstance(lease.fence, int)
        self.assertEqual(lease.expires_at.isoformat(), "2026-11-25T02:27:07.342000+00:00")
        self.assertEqual(lease.ttl_ms, 29997)
        self.assertNotIn(lease.token, repr(lease))
        method, path, headers, body = self.svc.ops("acquire")[0]
        self.assertEqual((method, path), ("POST", "/locks/shop/stock/sku-1/acquire"))
        self.assertEqual(json.loads(body), {"ttl": 30000, "wait": 2500})
        self.assertEqual(headers["Content-Type"], "application/json")
        self.assertEqual(json.loads(self.svc.ops("release")[0][3]), {"token": lease.token})
        self.assertEqual(self.svc.held, {})

    def test_released_when_fn_raises(self):
        with self.assertRaises(KeyError):
            self.locks.with_lock("job", 30, 0, lambda lease: {}["boom"])
        self.assertEqual(self.svc.held, {})

    def test_context_manager(self):
        with self.locks.lock("job", ttl=5, wait=0) as lease:
            self.assertIn("job", self.svc.held)
            lease.extend(12.5)
        self.assertEqual(json.loads(self.svc.ops("extend")[0][3]), {"token": lease.token, "ttl": 12500})
        self.assertEqual(self.svc.held, {})

    def test_not_obtained(self):
        self.svc.held["job"] = "someone"
        with self.assertRaises(LockNotObtained) as cm:
            self.locks.with_lock("job", 30, 0, lambda lease: self.fail("fn must not run"))
        self.assertEqual(cm.exception.status, 409)

    def test_unavailable_and_other_errors(self):
        self.svc.force["acquire"] = (503, {"error": "lock backend unavailable"})
        with self.assertRaises(LockUnavailable):
            self.locks.with_lock("job", 30, 0, lambda lease: None)
        self.svc.force["acquire"] = (400, {"error": "bad ttl", "param": "ttl"})
        with self.assertRaises(LockError) as cm:
            self.locks.with_lock("job", 30, 0, lambda lease: None)
        self.assertEqual(cm.exception.status, 400)
        self.assertNotIsInstance(cm.exception, (LockUnavailable, LockNotObtained, LockLost))
        with self.assertRaises(LockError) as cm:
            Locks(self.svc.url, "wrong-token").with_lock("job", 30, 0, lambda lease: None)
        self.assertEqual(cm.exception.status, 401)
        self.assertNotIn("wrong-token", str(cm.exception))

    def test_unreachable_is_unavailable(self):
        url = self.svc.url
        self.svc.server.close()
        with self.assertRaises(LockUnavailable) as cm:
            Locks(url, TOKEN, timeout=2).with_lock("job", 30, 0, lambda lease: None)
        self.assertIsNone(cm.exception.status)

    def test_lost_lease_raises_after_fn_returned(self):
        ran = []

        def fn(lease):
            self.svc.held.clear()  # the lease runs out under fn
            ran.append(True)
            return "discarded"

        with self.assertRaises(LockLost):
            self.locks.with_lock("job", 30, 0, fn)
        self.assertEqual(ran, [True])

    def test_fn_error_is_not_replaced_by_lost(self):
        def fn(lease):
            self.svc.held.clear()
            raise ValueError("mine")

        with self.assertRaises(ValueError):
            self.locks.with_lock("job", 30, 0, fn)

    def test_extends_automatically_every_third_of_the_ttl(self):
        def fn(lease):
            wait_for(lambda: len(self.svc.ops("extend")) >= 3)
            return lease.fence

        start = time.monotonic()
        self.locks.with_lock("job", 0.3, 0, fn)
        self.assertGreaterEqual(time.monotonic() - start, 0.25, "three extends at 0.1 s intervals")
        for _, _, _, body in self.svc.ops("extend"):
            self.assertEqual(json.loads(body)["ttl"], 300)
        self.assertFalse([t for t in threading.enumerate() if t.name.startswith("sidecar-lock-")],
                         "the renewal thread is stopped")
        n = len(self.svc.ops("extend"))
        self.assertEqual(self.svc.held, {})
        self.assertEqual(len(self.svc.ops("extend")), n)

    def test_renewal_noticing_a_lost_lease(self):
        def fn(lease):
            self.svc.held.clear()
            # The renewer's extend gets 409 and its thread ends by itself.
            wait_for(lambda: not [t for t in threading.enumerate() if t.name.startswith("sidecar-lock-")])
            return 1

        with self.assertRaises(LockLost), self.assertLogs("sidecar_session", "WARNING") as logs:
            self.locks.with_lock("job", 0.3, 0, fn)
        self.assertTrue(any("ran out" in line for line in logs.output))

    def test_argument_checks(self):
        for ttl in (0, -1, 0.0001):
            with self.assertRaises(ValueError):
                self.locks.acquire("job", ttl)
        with self.assertRaises(TypeError):
            self.locks.acquire("job", "30s")
        with self.assertRaises(ValueError):
            self.locks.acquire("job", 1, -1)


class RealServiceTest(unittest.TestCase):
    """10 worker processes x 20 increments through with_lock against the
    real lock service that the Go runner (clients/clients_test.go) starts."""

    WORKERS = 10
    INCREMENTS = 20

    def test_counter_under_contention(self):
        url = os.environ.get("SIDECAR_TEST_LOCK_URL")
        token = os.environ.get("SIDECAR_LOCK_SERVICE__TOKEN")
        if not url or not token:
            self.skipTest("set SIDECAR_TEST_LOCK_URL and SIDECAR_LOCK_SERVICE__TOKEN to run against a real lock "
                          "service (go test ./clients does)")
        tmp = tempfile.mkdtemp()
        counter = os.path.join(tmp, "counter")
        fences = os.path.join(tmp, "fences")
        Path(counter).write_text("0")
        Path(fences).write_text("")
        name = "kit-test/python/%d" % os.getpid()
        env = dict(os.environ, PYTHONPATH=str(PYTHON_DIR))
        procs = [subprocess.Popen([sys.executable, "-m", "tests.lock_worker", url, name, counter, fences,
                                   str(self.INCREMENTS)], cwd=str(PYTHON_DIR), env=env)
                 for _ in range(self.WORKERS)]
        for p in procs:
            self.assertEqual(p.wait(timeout=300), 0)
        self.assertEqual(int(Path(counter).read_text()), self.WORKERS * self.INCREMENTS)
        seen = [int(line) for line in Path(fences).read_text().split()]
        self.assertEqual(len(seen), self.WORKERS * self.INCREMENTS)
        for a, b in zip(seen, seen[1:]):
            self.assertLess(a, b, "fences strictly increasing")
        SUMMARY.append("locks: %d processes x %d increments = %d, fences strictly increasing"
                       % (self.WORKERS, self.INCREMENTS, int(Path(counter).read_text())))


if __name__ == "__main__":
    unittest.main()
