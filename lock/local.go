package lock

import (
	"context"
	"sync"
	"time"
)

// localBackend is the in-process lock: a map of leases under a mutex,
// timed by Options.Clock.
type localBackend struct {
	clock func() time.Time
	wait  *waiters

	mu    sync.Mutex
	held  map[string]*localLease
	fence int64 // the last fence issued, for every key
	sweep int   // sweep expired leases when held grows past this
}

// localLease is one live (or expired, not yet swept) lease.
type localLease struct {
	token string
	fence int64
	until time.Time
}

// minSweep is the size of the lease map below which it is never swept.
const minSweep = 64

var _ backend = (*localBackend)(nil)

// NewLocal returns an in-process Locker, for a single Sidecar with the
// embedded (bolt or memory) store: the same contract as the Redis
// Lockers, with expiry and fencing numbers on Options.Clock and waiters
// woken by the release itself. Its fencing numbers are never below the
// clock's Unix microseconds, so they keep increasing across restarts of
// the process while the clock does. It holds no goroutines; Close does
// nothing.
func NewLocal(opts Options) *Locker {
	opts = opts.withDefaults()
	b := &localBackend{clock: opts.Clock, held: make(map[string]*localLease), sweep: minSweep}
	l := newLocker(b, opts)
	b.wait = &l.wait
	return l
}

func (b *localBackend) now() time.Time { return b.clock() }

func (b *localBackend) acquire(ctx context.Context, key, token string, ttl time.Duration, _ bool) (grant, error) {
	if err := ctx.Err(); err != nil {
		return grant{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock()
	if h := b.held[key]; h != nil && now.Before(h.until) {
		return grant{retryIn: h.until.Sub(now)}, nil
	}
	b.fence = max(b.fence+1, now.UnixMicro())
	h := &localLease{token: token, fence: b.fence, until: now.Add(ttl)}
	b.held[key] = h
	if len(b.held) > b.sweep {
		b.sweepExpired(now)
	}
	return grant{ok: true, fence: h.fence, until: h.until}, nil
}

// sweepExpired drops expired leases, and sets the size at which to sweep
// next to twice what is left, so sweeping costs O(1) per acquisition.
// b.mu must be held.
func (b *localBackend) sweepExpired(now time.Time) {
	for k, h := range b.held {
		if !now.Before(h.until) {
			delete(b.held, k)
		}
	}
	b.sweep = max(2*len(b.held), minSweep)
}

func (b *localBackend) extend(ctx context.Context, key, token string, ttl time.Duration) (grant, error) {
	if err := ctx.Err(); err != nil {
		return grant{}, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.clock()
	h := b.held[key]
	if h == nil || h.token != token || !now.Before(h.until) {
		return grant{}, ErrNotHeld
	}
	h.until = now.Add(ttl)
	return grant{ok: true, fence: h.fence, until: h.until}, nil
}

func (b *localBackend) release(ctx context.Context, key, token string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.Lock()
	h := b.held[key]
	if h == nil || h.token != token {
		b.mu.Unlock()
		return ErrNotHeld
	}
	delete(b.held, key)
	live := b.clock().Before(h.until)
	b.mu.Unlock()
	b.wait.wake(key)
	if !live {
		return ErrNotHeld
	}
	return nil
}

func (b *localBackend) watch()                           {}
func (b *localBackend) listen(ctx context.Context) error { return nil }
func (b *localBackend) close() error                     { return nil }
