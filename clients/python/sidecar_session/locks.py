"""Client of Sidecar's lock service (docs/locks.md): a lock that spans
every app server in the pool, with fencing numbers."""

import contextlib
import datetime
import json
import logging
import threading
import urllib.error
import urllib.parse
import urllib.request

from .errors import LockError, LockLost, LockNotObtained, LockUnavailable

log = logging.getLogger("sidecar_session")


def _ms(seconds, what, minimum):
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError("%s is a number of seconds" % what)
    ms = int(round(seconds * 1000))
    if ms < minimum:
        raise ValueError("%s must be at least %d ms" % (what, minimum))
    return ms


def _expires(text):
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None


class Lease:
    """A held lock: name, fence (int; larger for every later lease on the
    name), fence_string, token (a secret: never log it), ttl_ms (the
    validity the service granted, a little less than asked) and expires_at
    (an aware UTC datetime, or None). extend() pushes the expiry out; the
    lock helpers release it."""

    def __init__(self, locks, name, ttl_ms, body):
        self._locks = locks
        self._mu = threading.Lock()
        self.name = name
        self._ttl_ms = ttl_ms  # what was asked for: extend()'s default
        self.token = body["token"]
        self.fence = int(body["fence"])
        self.fence_string = body.get("fence_string", str(self.fence))
        self._update(body)

    def _update(self, body):
        self.expires_at = _expires(body.get("expires_at"))
        self.ttl_ms = body.get("ttl_ms")

    def __repr__(self):
        return "<Lease %s fence=%d expires_at=%s>" % (self.name, self.fence, self.expires_at)

    def extend(self, ttl=None):
        """Extends the lease to ttl seconds from now (default: the ttl it was
        acquired with). Raises LockLost when it already ran out."""
        ttl_ms = self._ttl_ms if ttl is None else _ms(ttl, "ttl", 1)
        with self._mu:
            body = self._locks._call(self.name, "extend", {"token": self.token, "ttl": ttl_ms}, 0)
            self._update(body)

    def release(self):
        """Releases the lease. Returns False when it had already run out
        (409 "not held")."""
        with self._mu:
            try:
                self._locks._call(self.name, "release", {"token": self.token}, 0)
            except LockLost:
                return False
            return True


class _Renewer:
    """Extends a lease every ttl/3 on a daemon thread until stop()."""

    def __init__(self, lease, interval):
        self.lease = lease
        self.lost = False
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sidecar-lock-" + lease.name, daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.wait(self._interval):
            try:
                self.lease.extend()
            except LockLost:
                self.lost = True
                log.warning("sidecar_session: lock %s ran out while held", self.lease.name)
                return
            except LockError as exc:  # transient: try again at the next tick
                log.warning("sidecar_session: extending lock %s failed: %s", self.lease.name, exc)


class Locks:
    """The lock service at url (lock_service.listen, e.g.
    "http://127.0.0.1:9091") with bearer token (lock_service.token).

    Times are seconds (float OK), sent as whole milliseconds. timeout is
    how long an HTTP call may take beyond the acquire's wait (default 10).
    """

    def __init__(self, url, token, timeout=10.0):
        self._url = url.rstrip("/")
        self._token = token
        self._timeout = timeout

    def acquire(self, name, ttl=30.0, wait=0.0):
        """Takes the lock for ttl seconds, waiting up to wait seconds for
        another holder. Raises LockNotObtained, LockUnavailable, LockError.
        Prefer lock() or with_lock(), which extend and release."""
        ttl_ms = _ms(ttl, "ttl", 1)
        wait_ms = _ms(wait, "wait", 0)
        body = self._call(name, "acquire", {"ttl": ttl_ms, "wait": wait_ms}, wait_ms / 1000.0)
        return Lease(self, name, ttl_ms, body)

    @contextlib.contextmanager
    def lock(self, name, ttl=30.0, wait=10.0):
        """Context manager: holds the lock for the with-block, extending it
        every ttl/3 on a daemon thread, and releases it on exit. Yields the
        Lease. When the block completed but the lease had run out (its
        release answered 409), raises LockLost on exit; an exception from
        the block is never replaced."""
        lease = self.acquire(name, ttl, wait)
        renewer = _Renewer(lease, ttl / 3.0)
        renewer.start()
        ok = False
        try:
            yield lease
            ok = True
        finally:
            renewer.stop()
            try:
                released = lease.release()
            except LockError as exc:
                # The lease ends by itself within ttl; the block's work is done.
                log.warning("sidecar_session: releasing lock %s failed: %s", name, exc)
                released = not renewer.lost
            if ok and not released:
                raise LockLost("lock %s ran out before it was released: another holder may have run"
                               % name, 409)

    def with_lock(self, name, ttl, wait, fn):
        """Runs fn(lease) holding the lock (see lock()) and returns its
        result. Raises LockNotObtained, LockUnavailable, LockError, or
        LockLost after fn returned when the lease ran out under it (fn's
        result is then discarded)."""
        with self.lock(name, ttl, wait) as lease:
            return fn(lease)

    def _call(self, name, op, payload, wait):
        url = "%s/locks/%s/%s" % (self._url, urllib.parse.quote(name, safe="/:"), op)
        req = urllib.request.Request(
            url, data=json.dumps(payload).encode("ascii"), method="POST",
            headers={"Authorization": "Bearer " + self._token, "Content-Type": "application/json",
                     "Accept": "application/json"})
        what = "lock service %s %s" % (op, name)
        try:
            with urllib.request.urlopen(req, timeout=wait + self._timeout) as resp:  # noqa: S310
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                error = json.loads(exc.read().decode("utf-8")).get("error", "")
            except (ValueError, AttributeError, OSError):
                error = ""
            finally:
                exc.close()
            msg = "%s answered %d %s" % (what, status, error)
            if status == 409 and op == "acquire":
                raise LockNotObtained(msg, status) from None
            if status == 409:
                raise LockLost(msg, status) from None
            if status == 503:
                raise LockUnavailable(msg, status) from None
            raise LockError(msg, status) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise LockUnavailable("%s failed: %s" % (what, reason)) from None
        try:
            body = json.loads(raw.decode("utf-8"))
            if op != "release":
                int(body["fence"]), body["token"]  # noqa: B018 - a lease must have both
        except (ValueError, KeyError, TypeError):
            raise LockError("%s answered 200 with an unexpected body" % what, 200) from None
        return body
