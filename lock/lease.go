package lock

import (
	"context"
	"sync"
	"time"
)

// Lease is a held lock: a key, the random token that proves holding it, a
// fencing number and a validity. It is valid until Until, on the clock of
// the Locker that granted it, unless Release ends it sooner; Extend and
// KeepAlive push Until further. The holder must stop acting on the lease
// when it is no longer valid, and should pass Fence with every write to
// the resource the lock protects, for the resource to refuse writes
// carrying a lower fence than one it has seen (see the package doc for
// why validity alone is not enough). A Lease is safe for concurrent use.
type Lease struct {
	locker *Locker
	key    string
	token  string
	fence  int64

	mu    sync.Mutex
	ttl   time.Duration // of the last grant or extension
	until time.Time
}

// Key returns the locked key.
func (l *Lease) Key() string { return l.key }

// Token returns the lease's token: 26 random base32 characters (128 bits),
// which Locker.Extend and Locker.Release take to act on the lease without
// the *Lease.
func (l *Lease) Token() string { return l.token }

// Fence returns the lease's fencing number: every lease on the key
// granted after this one has ended has a higher one (see the package doc
// for the conditions).
func (l *Lease) Fence() int64 { return l.fence }

// Until returns the end of the lease's validity, on the Locker's clock
// (this host's time for Redis Lockers, Options.Clock for the in-process
// one). It is earlier than the lock's expiry in Redis by the time the
// grant took and the clock-drift allowance.
func (l *Lease) Until() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.until
}

// TTL returns the validity left, zero once it has passed.
func (l *Lease) TTL() time.Duration {
	return max(l.Until().Sub(l.locker.b.now()), 0)
}

// Extend moves the lease's expiry to ttl from now (ttl may differ from the
// one it was granted with) and its Until with it. It returns ErrNotHeld if
// the lease is no longer held, and for Redlock ErrUnavailable when too few
// masters answered; Until is then unchanged.
func (l *Lease) Extend(ctx context.Context, ttl time.Duration) error {
	g, err := l.locker.extend(ctx, l.key, l.token, ttl)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ttl, l.until = ttl, g.until
	return nil
}

// Release ends the lease; see Locker.Release.
func (l *Lease) Release(ctx context.Context) error {
	return l.locker.Release(ctx, l.key, l.token)
}

// grantedTTL returns the TTL of the last grant or extension.
func (l *Lease) grantedTTL() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ttl
}
