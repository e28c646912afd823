"""A worker process of the lock test: increments a shared counter file N
times, each under with_lock, and appends each lease's fence to a log.

Usage: python3 -m tests.lock_worker URL NAME COUNTER_FILE FENCE_LOG N
(the bearer token comes from SIDECAR_LOCK_SERVICE__TOKEN).
"""

import os
import sys

from sidecar_session import Locks


def main(url, name, counter, fence_log, n):
    locks = Locks(url, os.environ["SIDECAR_LOCK_SERVICE__TOKEN"])

    def increment(lease):
        with open(counter, "r+") as f:
            value = int(f.read() or "0")
            f.seek(0)
            f.truncate()
            f.write(str(value + 1))
            f.flush()
            os.fsync(f.fileno())
        with open(fence_log, "a") as f:
            f.write("%d\n" % lease.fence)
        return value + 1

    for _ in range(n):
        locks.with_lock(name, 10, 30, increment)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
