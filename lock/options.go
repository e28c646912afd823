package lock

import (
	"fmt"
	"time"
)

// Defaults for the zero values of Options' fields.
const (
	// DefaultPrefix is Options.Prefix's default.
	DefaultPrefix = "sidecar:lock:"
	// DefaultRetryMin is Options.RetryMin's default.
	DefaultRetryMin = 10 * time.Millisecond
	// DefaultRetryMax is Options.RetryMax's default.
	DefaultRetryMax = 200 * time.Millisecond
	// DefaultDriftFactor is Options.DriftFactor's default.
	DefaultDriftFactor = 0.01
	// DefaultFenceRetention is Options.FenceRetention's default.
	DefaultFenceRetention = time.Hour
	// DefaultServerTimeout is Options.ServerTimeout's default.
	DefaultServerTimeout = 500 * time.Millisecond
)

// MinTTL is the shortest lease granted: Acquire and Extend refuse a
// shorter ttl, since Redis keeps expiries in milliseconds.
const MinTTL = time.Millisecond

// driftFloor is added to every clock-drift allowance: the Redlock
// algorithm's 2ms for the granularity of Redis's expiry.
const driftFloor = 2 * time.Millisecond

// Options configure a Locker. The zero value is ready to use; each field
// says which implementations read it.
type Options struct {
	// Prefix starts every Redis key and the release channel: a lock on key
	// lives in the hash Prefix+key, and releases are published on
	// Prefix+"released". Empty means DefaultPrefix ("sidecar:lock:"). Give
	// each deployment sharing a Redis its own prefix. Redis only.
	Prefix string
	// RetryMin and RetryMax bound the polling of a waiting Acquire: the
	// first poll comes after RetryMin, each later one after twice the
	// previous interval up to RetryMax, every interval jittered down by up
	// to half. Polls are the fallback: a release notification, or the
	// holder's expiry when it is known, ends a wait sooner. Zero means
	// DefaultRetryMin (10ms) and DefaultRetryMax (200ms); RetryMax below
	// RetryMin is raised to it.
	RetryMin, RetryMax time.Duration
	// NoNotify turns release notifications off: waiters only poll. Redis
	// releases still publish for waiters of other Lockers that have them
	// on.
	NoNotify bool
	// DriftFactor is the share of the TTL allowed for the drift between
	// this host's clock and Redis's: a lease's validity is the TTL minus
	// the time the attempt took minus DriftFactor*TTL+2ms. 0 means
	// DefaultDriftFactor (0.01). Redis only.
	DriftFactor float64
	// FenceRetention is how long a released or expired lock's fence
	// counter is kept in Redis. Fencing numbers strictly increase whatever
	// the retention (see the package doc), but only within it does that
	// not depend on Redis's clock. 0 means DefaultFenceRetention (1h).
	// Redis only.
	FenceRetention time.Duration
	// ServerTimeout bounds each call to one Redis server: a server that
	// has not answered by then counts as failed for that call, so that
	// one that is down or hung delays nobody while a quorum of the others
	// answers (the Redlock algorithm's per-server timeout, small next to
	// the TTL). Attempts are bounded by their TTL as well. 0 means
	// DefaultServerTimeout (500ms). Redis only.
	ServerTimeout time.Duration
	// Clock tells the in-process Locker the time, for lease expiry and
	// fencing numbers. nil means time.Now. Local only: Redis leases are
	// timed by Redis and measured with this host's time.Now.
	Clock func() time.Time
}

// withDefaults returns o with every zero field given its default.
func (o Options) withDefaults() Options {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.RetryMin <= 0 {
		o.RetryMin = DefaultRetryMin
	}
	if o.RetryMax <= 0 {
		o.RetryMax = DefaultRetryMax
	}
	o.RetryMax = max(o.RetryMax, o.RetryMin)
	if o.DriftFactor <= 0 {
		o.DriftFactor = DefaultDriftFactor
	}
	if o.FenceRetention <= 0 {
		o.FenceRetention = DefaultFenceRetention
	}
	if o.ServerTimeout <= 0 {
		o.ServerTimeout = DefaultServerTimeout
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

// drift is the clock-drift allowance for a lease of ttl.
func (o Options) drift(ttl time.Duration) time.Duration {
	return time.Duration(float64(ttl)*o.DriftFactor) + driftFloor
}

// checkArgs validates the key and TTL every call takes.
func checkArgs(key string, ttl time.Duration) error {
	if key == "" {
		return fmt.Errorf("lock: empty key")
	}
	if ttl < MinTTL {
		return fmt.Errorf("lock: ttl %v for %q is below %v", ttl, key, MinTTL)
	}
	return nil
}
