package redisstore

import (
	"context"
	"sync"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
)

const (
	// DefaultTouchQueue is CacheOptions.TouchQueue's default.
	DefaultTouchQueue = 4096
	// touchWorkers is how many touches are written at once.
	touchWorkers = 2
	// touchTimeout bounds writing one touch.
	touchTimeout = 2 * time.Second
	// touchFlushTimeout bounds how long Close keeps writing the touches
	// still queued; those left after it are dropped.
	touchFlushTimeout = 2 * time.Second
)

// toucher writes the idle touches a cached store's reads find due, after
// the read instead of in its round trip. It keeps one request per
// session (a second touch of a session already queued raises the first
// to the later expiry), in a bounded queue: when it is full, the read
// writes its touch itself. Until a touch is written, the store's reads of
// the session show the touched expiry (pending), as the read that asked
// for it did.
//
// A touch written late slides the expiry as if written at its read: the
// script slides it only forward, from that read's instant, and only on a
// record still live then (never one deleted or regenerated away since).
// A touch dropped (Close gives up after touchFlushTimeout) leaves the
// expiry where the session's last write or touch put it, which is where
// it was when the read was served: the session may end sooner than that
// read showed, never later than its reads allow.
type toucher struct {
	s     *Store
	queue chan string
	life  context.Context // ends touchFlushTimeout after close begins
	end   context.CancelFunc
	wg    sync.WaitGroup

	mu     sync.Mutex
	closed bool
	reqs   map[string]*touchReq
}

// touchReq is the touch of one session waiting to be written (queued) or
// being written.
type touchReq struct {
	// now is when the first read asking for it found the session live;
	// before and idle are the latest Touch's (Unix ms).
	now, before, idle int64
	queued            bool
	running           chan struct{} // closed when the write under way ends
}

// newToucher starts a toucher's workers; close stops them.
func newToucher(s *Store, size int) *toucher {
	life, end := context.WithCancel(context.Background())
	t := &toucher{s: s, queue: make(chan string, size), life: life, end: end, reqs: map[string]*touchReq{}}
	for range touchWorkers {
		t.wg.Go(t.work)
	}
	return t
}

// enqueue queues the touch of the session under key that a read at now
// found due, and reports whether it did (false: the queue is full, or
// closed).
func (t *toucher) enqueue(key string, now time.Time, touch *sessions.Touch) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return false
	}
	r := t.reqs[key]
	if r == nil || !r.queued {
		select {
		case t.queue <- key:
		default:
			return false
		}
		if r == nil {
			r = &touchReq{}
			t.reqs[key] = r
		}
		r.queued = true
	}
	// Merged touches slide the expiry to the latest one asked for, on a
	// record live when the first of them was asked for: each read of the
	// chain found the session live, the later ones thanks to the earlier
	// touches.
	if ms := now.UnixMilli(); r.now == 0 || ms < r.now {
		r.now = ms
	}
	r.before = max(r.before, touch.Before.UnixMilli())
	r.idle = max(r.idle, touch.IdleExp.UnixMilli())
	return true
}

// pending returns the idle expiry (Unix ms) of the touch of key not yet
// written, if any.
func (t *toucher) pending(key string) (int64, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if r := t.reqs[key]; r != nil {
		return r.idle, true
	}
	return 0, false
}

// settle writes the touch of key not yet written, if any, before it
// returns: a write of the session comes next, which checks liveness
// against an expiry that must include the touch its request's read was
// shown. A touch being written is waited for (at most until ctx ends).
func (t *toucher) settle(ctx context.Context, key string) {
	for {
		t.mu.Lock()
		r := t.reqs[key]
		switch {
		case r == nil:
			t.mu.Unlock()
			return
		case r.running != nil:
			ch := r.running
			t.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return
			}
		default:
			t.write(ctx, key, r) // unlocks
			return
		}
	}
}

// settleAll settles every touch not yet written: an inventory read
// (Count, ByPrincipal, ByHandle) judges liveness by the stored expiries,
// which must include the touches this process's reads have shown.
func (t *toucher) settleAll(ctx context.Context) {
	t.mu.Lock()
	keys := make([]string, 0, len(t.reqs))
	for k := range t.reqs {
		keys = append(keys, k)
	}
	t.mu.Unlock()
	for _, k := range keys {
		t.settle(ctx, k)
	}
}

// work writes queued touches until the queue is closed and drained.
func (t *toucher) work() {
	for key := range t.queue {
		t.settle(t.life, key) // nothing when settled meanwhile
	}
}

// write writes r, the queued touch of key, within ctx and touchTimeout;
// it is called with t.mu held and releases it. Should the write fail, the key is dropped from the
// cache, whose copy shows an expiry Redis may not have.
func (t *toucher) write(ctx context.Context, key string, r *touchReq) {
	r.queued = false
	done := make(chan struct{})
	r.running = done
	req := *r
	t.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, touchTimeout)
	err := t.s.touchNow(ctx, key, req.now, req.before, req.idle)
	cancel()

	t.mu.Lock()
	r.running = nil
	close(done)
	if !r.queued {
		delete(t.reqs, key)
	}
	t.mu.Unlock()
	if err != nil {
		t.s.cache.stats.touchFailures.Add(1)
		t.s.cache.invalidate(key)
		return
	}
	t.s.cache.stats.touches.Add(1)
}

// close stops taking touches, writes those queued for at most
// touchFlushTimeout and drops the rest.
func (t *toucher) close() {
	t.mu.Lock()
	t.closed = true
	close(t.queue)
	t.mu.Unlock()
	timer := time.AfterFunc(touchFlushTimeout, t.end)
	t.wg.Wait()
	timer.Stop()
	t.end()
}

// touchNow writes a touch (touch.lua): the idle expiry becomes idle if it
// is before before, on a record live at now; then registers the session
// again when the script asks. sessions.ErrNotFound: no live record.
func (s *Store) touchNow(ctx context.Context, key string, now, before, idle int64) error {
	res, err := s.run(ctx, s.scripts.touch, []string{s.sessionKey(key)}, now, before, idle).Int64()
	if err != nil {
		return fail(ctx, "touching session", err)
	}
	if res < 0 {
		return sessions.ErrNotFound
	}
	if res > 0 {
		s.register(ctx, now, key, res)
	}
	return nil
}
