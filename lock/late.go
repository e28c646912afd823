package lock

import (
	"context"
	"sync"
	"time"
)

// lateGrants are the leases granted before every server had answered
// their acquisition, by token, until those calls have ended. It is safe
// for concurrent use; the zero value is ready.
type lateGrants struct {
	mu sync.Mutex
	m  map[string]*lateGrant
}

// lateGrant is one such lease: whether it was released while calls of its
// acquisition were still running.
type lateGrant struct {
	released bool
}

// follow waits, in the background, for the acquisition calls of a grant
// that it did not await (g.pending of them, delivered on g.rest) and, if
// the lease was released meanwhile, releases it again where they may have
// taken the lock.
//
// Such a call can take the lock on its server after the release has
// passed there: a call held up in the client (dialling, retrying, not yet
// scheduled) can overtake a later one. Left alone, the lock would stay
// held on that server until its TTL, and with Redlock the key would be
// harder to get — with a master down, impossible — although released.
// The goroutine exits once the calls have ended (within ServerTimeout)
// and the release, if any, has (within ServerTimeout again).
//
// A release through another Locker (Locker.Release with the token, in
// another process) is not seen; that lock expires at its TTL.
func (b *redisBackend) follow(ctx context.Context, key, token string, ttl time.Duration, g gathered) {
	if g.pending == 0 {
		return
	}
	lg := b.late.add(token)
	go func() {
		var reached []int
		for range g.pending {
			if got := <-g.rest; got.r.state != no {
				reached = append(reached, got.i)
			}
		}
		if b.late.done(token, lg) && len(reached) > 0 {
			b.undo(ctx, key, token, ttl, reached)
		}
	}()
}

// add registers the lease with token.
func (r *lateGrants) add(token string) *lateGrant {
	lg := &lateGrant{}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]*lateGrant)
	}
	r.m[token] = lg
	return lg
}

// released notes that the lease with token is being released, if it is
// registered.
func (r *lateGrants) released(token string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if lg := r.m[token]; lg != nil {
		lg.released = true
	}
}

// done unregisters lg, the lease with token, and reports whether it was
// released.
func (r *lateGrants) done(token string, lg *lateGrant) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, token)
	return lg.released
}
