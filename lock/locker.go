package lock

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"
)

// Locker hands out leases on keys. NewRedis, NewRedlock and NewLocal make
// one; all three keep the same contract, described on each method. A
// Locker is safe for concurrent use. Call Close when done with it.
type Locker struct {
	b     backend
	opts  Options
	wait  waiters
	stats counters
}

// backend is one implementation of the lock operations; Locker adds
// tokens, waiting, validation and counting.
type backend interface {
	// acquire makes one attempt to take key for ttl under token. It
	// returns a grant with ok false when another holder has the lock
	// (retryIn says for how long, if known), and an error when the
	// attempt could not be made (wrapping ErrUnavailable), having
	// released whatever part of the lock it took. With mark set, a held
	// lock is flagged so that its release is announced.
	acquire(ctx context.Context, key, token string, ttl time.Duration, mark bool) (grant, error)
	// extend moves the expiry of the lease key/token to ttl from now. It
	// returns ErrNotHeld if the token holds no live lease.
	extend(ctx context.Context, key, token string, ttl time.Duration) (grant, error)
	// release ends the lease key/token. It returns ErrNotHeld if the
	// token held no live lease.
	release(ctx context.Context, key, token string) error
	// watch makes sure release notifications are being received (or are
	// being set up), for the waiters registered in the Locker's waiters.
	watch()
	// listen starts release notifications and waits until they are live.
	listen(ctx context.Context) error
	// now is the backend's clock, in which grants' until is given.
	now() time.Time
	// close stops release notifications.
	close() error
}

// grant is the outcome of one attempt or extension.
type grant struct {
	ok      bool
	token   string // set by Locker.attempt
	fence   int64
	until   time.Time     // end of validity, on the backend's clock
	retryIn time.Duration // when !ok: the holder's remaining lease, 0 if unknown
}

// newLocker returns a Locker on b.
func newLocker(b backend, opts Options) *Locker {
	return &Locker{b: b, opts: opts}
}

// Acquire takes the lock on key for ttl and returns the lease, with a new
// random token and a fencing number above that of every earlier lease on
// key (under the conditions in the package doc). If another holder has
// the lock it waits for it, up to wait (0 or less: one attempt only) and
// while ctx lasts, woken by the release (or, when notifications are
// unavailable, by polling between Options.RetryMin and RetryMax with
// jitter, or at the holder's expiry) and then trying again.
//
// One attempt is bounded by ttl, and each call in it to a Redis server by
// Options.ServerTimeout, so a server that is down holds up nobody while a
// quorum answers. Acquire returns within wait+ttl, plus for Redis up to
// ServerTimeout to release what a failed last attempt took.
//
// When it gives up it returns ErrNotObtained, wrapping the reason the
// last attempt failed if that was not another holder (ErrUnavailable when
// Redis did not answer) and joined with ctx.Err() if ctx ended. A ttl
// under 1ms or an empty key is an error.
func (l *Locker) Acquire(ctx context.Context, key string, ttl, wait time.Duration) (*Lease, error) {
	if err := checkArgs(key, ttl); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		l.stats.notObtained.Add(1)
		return nil, notObtained(ctx, key, nil)
	}
	deadline := time.Now().Add(wait)
	notify := wait > 0 && !l.opts.NoNotify
	g, err := l.attempt(ctx, key, ttl, notify)
	if err == nil && g.ok {
		return l.granted(key, ttl, g), nil
	}
	if err == nil {
		l.stats.contended.Add(1)
	}
	if wait <= 0 {
		l.stats.notObtained.Add(1)
		return nil, notObtained(ctx, key, err)
	}
	return l.await(ctx, key, ttl, deadline, notify, g, err)
}

// attempt makes one attempt, under a new token and bounded by ttl, and
// counts a failure to reach Redis. Each attempt has its own token, so that
// the cleanup of a failed one, which may finish in the background, never
// touches what a later one takes.
func (l *Locker) attempt(ctx context.Context, key string, ttl time.Duration, mark bool) (grant, error) {
	actx, cancel := context.WithTimeout(ctx, ttl)
	defer cancel()
	token := rand.Text()
	g, err := l.b.acquire(actx, key, token, ttl, mark)
	if err != nil {
		l.stats.errors.Add(1)
		return grant{}, err
	}
	g.token = token
	return g, nil
}

// granted counts and returns the lease g grants.
func (l *Locker) granted(key string, ttl time.Duration, g grant) *Lease {
	l.stats.acquired.Add(1)
	return &Lease{locker: l, key: key, token: g.token, fence: g.fence, ttl: ttl, until: g.until}
}

// Extend moves the expiry of the lease that token holds on key to ttl
// from now and returns it, for callers that keep only the key and token
// (a lease handed to another process); holders of a *Lease call its
// Extend. It returns ErrNotHeld if token holds no live lease on key:
// once a lease has expired it cannot be extended, even if nobody took
// the lock meanwhile. For Redlock, ErrUnavailable means too few masters
// answered: the lease may still be valid until its last validity.
func (l *Locker) Extend(ctx context.Context, key, token string, ttl time.Duration) (*Lease, error) {
	g, err := l.extend(ctx, key, token, ttl)
	if err != nil {
		return nil, err
	}
	return &Lease{locker: l, key: key, token: token, fence: g.fence, ttl: ttl, until: g.until}, nil
}

// extend is Extend without building a Lease.
func (l *Locker) extend(ctx context.Context, key, token string, ttl time.Duration) (grant, error) {
	if err := checkArgs(key, ttl); err != nil {
		return grant{}, err
	}
	if err := ctx.Err(); err != nil {
		return grant{}, fmt.Errorf("lock: extending %q: %w", key, err)
	}
	g, err := l.b.extend(ctx, key, token, ttl)
	switch {
	case err == nil:
		l.stats.extended.Add(1)
		return g, nil
	case errors.Is(err, ErrNotHeld):
		l.stats.lost.Add(1)
	default:
		l.stats.errors.Add(1)
	}
	return grant{}, withCtx(ctx, fmt.Errorf("lock: extending %q: %w", key, err))
}

// Release ends the lease token holds on key, so the next waiter gets the
// lock at once instead of at its expiry. It returns ErrNotHeld if token
// held no live lease on key (the lock is released all the same if the
// token still names an expired lease), and for Redlock ErrUnavailable
// when too few masters answered (the lease then ends at its expiry).
// ctx bounds the call like any other; to release after the request that
// held the lock was cancelled, pass context.WithoutCancel(ctx) with a
// timeout of its own.
func (l *Locker) Release(ctx context.Context, key, token string) error {
	if key == "" {
		return fmt.Errorf("lock: empty key")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("lock: releasing %q: %w", key, err)
	}
	err := l.b.release(ctx, key, token)
	switch {
	case err == nil:
		l.stats.released.Add(1)
		return nil
	case errors.Is(err, ErrNotHeld):
		l.stats.lost.Add(1)
	default:
		l.stats.errors.Add(1)
	}
	return withCtx(ctx, fmt.Errorf("lock: releasing %q: %w", key, err))
}

// Stats returns the Locker's counters.
func (l *Locker) Stats() Stats { return l.stats.snapshot() }

// Listen starts receiving release notifications now, rather than at the
// first Acquire that waits, and returns once they are live (for Redlock:
// from every master) or ctx ends. Calling it is optional, and worthwhile
// at startup to find out whether pub/sub works: waiters poll while it
// does not. The in-process Locker, and one with Options.NoNotify, return
// nil at once.
func (l *Locker) Listen(ctx context.Context) error {
	if l.opts.NoNotify {
		return nil
	}
	return l.b.listen(ctx)
}

// Close stops the Locker's release notifications and waits for their
// goroutines to exit. Leases stay valid, and the Locker keeps working, its
// waiters polling. Close does not close the Redis clients.
func (l *Locker) Close() error { return l.b.close() }
