package lock

import (
	"sync/atomic"
	"time"
)

// Stats are a Locker's counters since it was made, for a metrics
// endpoint. All but Waiting only grow.
type Stats struct {
	// Acquired counts leases granted by Acquire.
	Acquired int64
	// Contended counts Acquire calls whose first attempt found the lock
	// held by another.
	Contended int64
	// Waited counts Acquire calls that waited: their first attempt
	// failed (contention, or Redis) and their wait bound was above zero.
	Waited int64
	// Waiting is the number of Acquire calls waiting right now: their
	// attempts since they began waiting have all failed.
	Waiting int64
	// WaitTime is the total time Acquire calls spent waiting, whether or
	// not they got the lock in the end.
	WaitTime time.Duration
	// Notified counts the times a waiter was woken by a release
	// notification (rather than by its poll timer or the holder's
	// expiry).
	Notified int64
	// NotObtained counts Acquire calls that gave up: the wait bound
	// passed or ctx ended. Each returned ErrNotObtained.
	NotObtained int64
	// Extended counts successful extensions, by Extend or KeepAlive.
	Extended int64
	// Released counts releases of live leases.
	Released int64
	// Lost counts leases found lost: Extend or Release answered
	// ErrNotHeld, or KeepAlive saw the validity run out.
	Lost int64
	// Errors counts attempts, extensions and releases that failed for
	// want of Redis (ErrUnavailable), whatever became of the call.
	Errors int64
}

// counters are the atomic counters behind Stats.
type counters struct {
	acquired, contended, waited, waiting, waitTime, notified atomic.Int64
	notObtained, extended, released, lost, errors            atomic.Int64
}

// snapshot reads the counters.
func (c *counters) snapshot() Stats {
	return Stats{
		Acquired:    c.acquired.Load(),
		Contended:   c.contended.Load(),
		Waited:      c.waited.Load(),
		Waiting:     c.waiting.Load(),
		WaitTime:    time.Duration(c.waitTime.Load()),
		Notified:    c.notified.Load(),
		NotObtained: c.notObtained.Load(),
		Extended:    c.extended.Load(),
		Released:    c.released.Load(),
		Lost:        c.lost.Load(),
		Errors:      c.errors.Load(),
	}
}
