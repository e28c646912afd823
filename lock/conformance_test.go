package lock_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/lock"
)

// runConformance runs the behaviour every Locker shares against im, each
// subtest in parallel with a fresh environment.
func runConformance(t *testing.T, im impl) {
	tests := []struct {
		name string
		run  func(t *testing.T, e *env)
	}{
		{"AcquireExtendRelease", testAcquireExtendRelease},
		{"TokenMismatch", testTokenMismatch},
		{"TryOnce", testTryOnce},
		{"ExpiryFreesTheLock", testExpiry},
		{"FencesIncrease", testFencesIncrease},
		{"WokenByRelease", testWokenByRelease},
		{"PollingFallback", testPollingFallback},
		{"ContextBoundsWait", testContextBoundsWait},
		{"MutualExclusion", testMutualExclusion},
		{"KeepAlive", testKeepAlive},
		{"KeepAliveReportsLoss", testKeepAliveLoss},
		{"InvalidArguments", testInvalidArguments},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, im.start(t))
		})
	}
}

func testAcquireExtendRelease(t *testing.T, e *env) {
	ctx := t.Context()
	l := e.newLocker(t, lock.Options{})
	key := randomKey()

	lease, err := l.Acquire(ctx, key, e.ttl, 0)
	require.NoError(t, err)
	assert.Equal(t, key, lease.Key())
	assert.Len(t, lease.Token(), 26)
	assert.Positive(t, lease.Fence())
	assert.Positive(t, lease.TTL())
	assert.LessOrEqual(t, lease.TTL(), e.ttl)

	_, err = l.Acquire(ctx, key, e.ttl, 0)
	assert.ErrorIs(t, err, lock.ErrNotObtained, "a held lock is not granted again")

	before := lease.Until()
	require.NoError(t, lease.Extend(ctx, 2*e.ttl))
	assert.True(t, lease.Until().After(before), "Extend moves Until")

	byToken, err := l.Extend(ctx, key, lease.Token(), 2*e.ttl)
	require.NoError(t, err)
	assert.Equal(t, lease.Fence(), byToken.Fence())
	assert.Equal(t, lease.Token(), byToken.Token())

	require.NoError(t, lease.Release(ctx))
	assert.ErrorIs(t, lease.Release(ctx), lock.ErrNotHeld)
	assert.ErrorIs(t, lease.Extend(ctx, e.ttl), lock.ErrNotHeld)

	again, err := l.Acquire(ctx, key, e.ttl, 0)
	require.NoError(t, err, "a released lock is free")
	assert.Greater(t, again.Fence(), lease.Fence())
	assert.NotEqual(t, lease.Token(), again.Token())

	st := l.Stats()
	assert.EqualValues(t, 2, st.Acquired)
	assert.EqualValues(t, 1, st.Contended)
	assert.EqualValues(t, 1, st.NotObtained)
	assert.EqualValues(t, 0, st.Waited)
	assert.EqualValues(t, 2, st.Extended)
	assert.EqualValues(t, 1, st.Released)
	assert.EqualValues(t, 2, st.Lost)
	assert.EqualValues(t, 0, st.Errors)
}

func testTokenMismatch(t *testing.T, e *env) {
	ctx := t.Context()
	l := e.newLocker(t, lock.Options{})
	key := randomKey()
	lease, err := l.Acquire(ctx, key, e.ttl, 0)
	require.NoError(t, err)

	assert.ErrorIs(t, l.Release(ctx, key, "bogus"), lock.ErrNotHeld)
	_, err = l.Extend(ctx, key, "bogus", e.ttl)
	assert.ErrorIs(t, err, lock.ErrNotHeld)
	assert.ErrorIs(t, l.Release(ctx, randomKey(), lease.Token()), lock.ErrNotHeld, "a token holds only its own key")

	_, err = l.Acquire(ctx, key, e.ttl, 0)
	assert.ErrorIs(t, err, lock.ErrNotObtained, "a wrong token released nothing")
	require.NoError(t, lease.Release(ctx))
}

func testTryOnce(t *testing.T, e *env) {
	ctx := t.Context()
	holder := e.newLocker(t, lock.Options{})
	other := e.newLocker(t, lock.Options{})
	key := randomKey()
	_, err := holder.Acquire(ctx, key, e.ttl, 0)
	require.NoError(t, err)

	_, err = other.Acquire(ctx, key, e.ttl, 0)
	require.ErrorIs(t, err, lock.ErrNotObtained)
	assert.NotErrorIs(t, err, lock.ErrUnavailable, "contention is not unavailability")
	assert.NotErrorIs(t, err, context.Canceled)
	assert.EqualValues(t, 0, other.Stats().Waited, "wait 0 makes one attempt")
}

func testExpiry(t *testing.T, e *env) {
	ctx := t.Context()
	holder := e.newLocker(t, lock.Options{})
	waiter := e.newLocker(t, lock.Options{})
	key := randomKey()
	h, err := holder.Acquire(ctx, key, e.short, 0)
	require.NoError(t, err)

	// On the real clock the waiter waits out the lease, woken at its
	// expiry; the wait bound only catches a lock that is never freed.
	e.advance(e.short)
	r := receive(t, acquireAsync(ctx, waiter, key, e.ttl, 20*time.Second))
	require.NoError(t, r.err, "an expired lease frees the lock")
	assert.False(t, e.now().Before(h.Until()), "granted no earlier than the old lease's validity ended")
	assert.Greater(t, r.lease.Fence(), h.Fence())

	assert.Zero(t, h.TTL())
	assert.ErrorIs(t, h.Extend(ctx, e.ttl), lock.ErrNotHeld, "an expired lease cannot be extended")
	assert.ErrorIs(t, h.Release(ctx), lock.ErrNotHeld)
	_, err = holder.Acquire(ctx, key, e.ttl, 0)
	assert.ErrorIs(t, err, lock.ErrNotObtained, "the old holder's release did not free the new lease")
	require.NoError(t, r.lease.Release(ctx))
}

func testFencesIncrease(t *testing.T, e *env) {
	ctx := t.Context()
	lockers := []*lock.Locker{e.newLocker(t, lock.Options{}), e.newLocker(t, lock.Options{})}
	key := randomKey()
	var last int64
	for i := range 10 {
		lease, err := lockers[i%2].Acquire(ctx, key, e.ttl, 0)
		require.NoError(t, err)
		assert.Greater(t, lease.Fence(), last)
		last = lease.Fence()
		require.NoError(t, lease.Release(ctx))
	}
}

// testWokenByRelease sets the poll interval (10-20s, jittered) far above
// what a notified waiter needs and checks that the waiter got the lock
// through the notification. It asserts no time bound.
func testWokenByRelease(t *testing.T, e *env) {
	ctx := t.Context()
	opts := lock.Options{RetryMin: 20 * time.Second, RetryMax: 20 * time.Second}
	holder := e.newLocker(t, opts)
	waiter := e.newLocker(t, opts)
	require.NoError(t, waiter.Listen(ctx))
	key := randomKey()
	h, err := holder.Acquire(ctx, key, e.ttl, 0)
	require.NoError(t, err)

	ch := acquireAsync(ctx, waiter, key, e.ttl, 25*time.Second)
	waitFor(t, "the waiter to wait", func() bool { return waiter.Stats().Waiting == 1 })
	require.NoError(t, h.Release(ctx))
	r := receive(t, ch)
	require.NoError(t, r.err)
	assert.Greater(t, r.lease.Fence(), h.Fence())
	st := waiter.Stats()
	assert.GreaterOrEqual(t, st.Notified, int64(1), "woken by the release notification, not by polling")
	assert.EqualValues(t, 1, st.Waited)
	assert.Positive(t, st.WaitTime)
	assert.EqualValues(t, 0, st.Waiting)
	require.NoError(t, r.lease.Release(ctx))
}

func testPollingFallback(t *testing.T, e *env) {
	ctx := t.Context()
	opts := lock.Options{NoNotify: true, RetryMin: 5 * time.Millisecond, RetryMax: 20 * time.Millisecond}
	holder := e.newLocker(t, opts)
	waiter := e.newLocker(t, opts)
	key := randomKey()
	h, err := holder.Acquire(ctx, key, e.ttl, 0)
	require.NoError(t, err)

	ch := acquireAsync(ctx, waiter, key, e.ttl, 20*time.Second)
	waitFor(t, "the waiter to wait", func() bool { return waiter.Stats().Waiting == 1 })
	require.NoError(t, h.Release(ctx))
	r := receive(t, ch)
	require.NoError(t, r.err)
	assert.Zero(t, waiter.Stats().Notified, "no notifications: found by polling")
	require.NoError(t, r.lease.Release(ctx))
}

func testContextBoundsWait(t *testing.T, e *env) {
	ctx := t.Context()
	holder := e.newLocker(t, lock.Options{})
	waiter := e.newLocker(t, lock.Options{})
	key := randomKey()
	_, err := holder.Acquire(ctx, key, e.ttl, 0)
	require.NoError(t, err)

	// Wait bounds of an hour: only ctx can end these waits within
	// receive's bound.
	t.Run("AlreadyCancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := waiter.Acquire(cctx, randomKey(), e.ttl, time.Hour)
		assert.ErrorIs(t, err, lock.ErrNotObtained)
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("Deadline", func(t *testing.T) {
		dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		r := receive(t, acquireAsync(dctx, waiter, key, e.ttl, time.Hour))
		assert.ErrorIs(t, r.err, lock.ErrNotObtained)
		assert.ErrorIs(t, r.err, context.DeadlineExceeded, "the deadline, not the wait bound, ended the wait")
	})
	t.Run("CancelledWhileWaiting", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		ch := acquireAsync(cctx, waiter, key, e.ttl, time.Hour)
		waitFor(t, "the waiter to wait", func() bool { return waiter.Stats().Waiting == 1 })
		cancel()
		r := receive(t, ch)
		assert.ErrorIs(t, r.err, lock.ErrNotObtained)
		assert.ErrorIs(t, r.err, context.Canceled)
	})
	t.Run("WaitBound", func(t *testing.T) {
		start := time.Now()
		_, err := waiter.Acquire(ctx, key, e.ttl, 50*time.Millisecond)
		assert.ErrorIs(t, err, lock.ErrNotObtained)
		assert.NoError(t, ctx.Err())
		assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "waited the whole bound")
	})
	assert.EqualValues(t, 4, waiter.Stats().NotObtained)
}

// testMutualExclusion has 20 clients (Lockers, for Redis) take turns on a
// counter they increment non-atomically — read, pause, write — only while
// holding the lock. Any overlap loses an update, and is seen directly by a
// count of the clients inside. The fences, recorded in the order the
// leases were held, must strictly increase. A client that gives up (its
// 30s wait bound passed) is reported as such: that is a lock too slow to
// change hands, not an overlap.
func testMutualExclusion(t *testing.T, e *env) {
	const clients, rounds = 20, 5
	const wait = 30 * time.Second
	ctx := t.Context()
	key := randomKey()
	var (
		counter  atomic.Int64 // read and written separately: not an atomic increment
		inside   atomic.Int64 // clients between Acquire and Release
		overlaps atomic.Int64 // entries while another client was inside
		mu       sync.Mutex
		fences   []int64
		gaveUp   []string // one line per client that gave up
		releases []error  // failed releases: a lease lost while held
	)
	lockers := make([]*lock.Locker, clients)
	for i := range lockers {
		lockers[i] = e.newLocker(t, lock.Options{})
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i, l := range lockers {
		wg.Go(func() {
			for round := range rounds {
				began := time.Now()
				lease, err := l.Acquire(ctx, key, e.ttl, wait)
				if err != nil {
					mu.Lock()
					gaveUp = append(gaveUp, fmt.Sprintf("client %d, turn %d, after %v: %v",
						i, round+1, time.Since(began).Round(time.Millisecond), err))
					mu.Unlock()
					return
				}
				if inside.Add(1) != 1 {
					overlaps.Add(1)
				}
				v := counter.Load()
				time.Sleep(100 * time.Microsecond) // widen the window an overlap would need
				counter.Store(v + 1)
				mu.Lock()
				fences = append(fences, lease.Fence())
				mu.Unlock()
				inside.Add(-1)
				if err := lease.Release(ctx); err != nil {
					mu.Lock()
					releases = append(releases, err)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	logTurns(t, lockers, len(fences), time.Since(start))

	assert.Empty(t, gaveUp, "%d of %d clients gave up waiting (wait bound %v) before their %d turns were done",
		len(gaveUp), clients, wait, rounds)
	assert.Zero(t, overlaps.Load(), "two holders overlapped")
	assert.EqualValues(t, len(fences), counter.Load(), "an update was lost: two holders overlapped")
	assert.Empty(t, releases, "a lease (TTL %v) was lost while held", e.ttl)
	for i := 1; i < len(fences); i++ {
		assert.Greater(t, fences[i], fences[i-1], "fence %d is not above its predecessor", i)
	}
}

// logTurns logs how long the turns took and what the waiting cost, summed
// over the distinct lockers, for a test that fails by giving up.
func logTurns(t *testing.T, lockers []*lock.Locker, turns int, took time.Duration) {
	t.Helper()
	var sum lock.Stats
	seen := map[*lock.Locker]bool{}
	for _, l := range lockers {
		if seen[l] {
			continue
		}
		seen[l] = true
		st := l.Stats()
		sum.Contended += st.Contended
		sum.Notified += st.Notified
		sum.NotObtained += st.NotObtained
		sum.Errors += st.Errors
	}
	t.Logf("%d turns in %v: %d contended, %d wake-ups by notification, %d gave up, %d Redis errors",
		turns, took.Round(time.Millisecond), sum.Contended, sum.Notified, sum.NotObtained, sum.Errors)
}

// testKeepAlive keeps a lease alive past the validity it was granted with
// and checks that it is still held. It fails at once, with the cause, if
// the keeper loses the lease.
func testKeepAlive(t *testing.T, e *env) {
	ctx := t.Context()
	l := e.newLocker(t, lock.Options{})
	other := e.newLocker(t, lock.Options{})
	key := randomKey()
	lease, err := l.Acquire(ctx, key, e.short, 0)
	require.NoError(t, err)
	first := lease.Until()

	work, stop := lease.KeepAlive(ctx)
	defer stop()
	// One extension at a time (every third of the TTL) until the first
	// validity has passed: on the real clock that takes the TTL; a fake
	// clock moves half a TTL after each extension, so the lease never
	// runs out between two.
	for !e.now().After(first) {
		n := l.Stats().Extended
		waitFor(t, "an extension", func() bool { return l.Stats().Extended > n || work.Err() != nil })
		require.NoError(t, work.Err(), "the keeper lost the lease: %v", context.Cause(work))
		e.advance(e.short / 2)
	}
	_, err = other.Acquire(ctx, key, e.short, 0)
	assert.ErrorIs(t, err, lock.ErrNotObtained, "a kept-alive lease stays held past its first validity")
	assert.True(t, lease.Until().After(first), "KeepAlive moved Until")
	assert.NoError(t, work.Err())
	stop()
	assert.ErrorIs(t, work.Err(), context.Canceled)
	assert.NotErrorIs(t, context.Cause(work), lock.ErrLost)
	require.NoError(t, lease.Release(ctx))
}

func testKeepAliveLoss(t *testing.T, e *env) {
	ctx := t.Context()
	l := e.newLocker(t, lock.Options{})
	key := randomKey()
	lease, err := l.Acquire(ctx, key, e.short, 0)
	require.NoError(t, err)
	work, stop := lease.KeepAlive(ctx)
	defer stop()

	// Someone ends the lease behind the keeper's back; its next extension,
	// a third of the TTL later, finds it gone.
	require.NoError(t, l.Release(ctx, key, lease.Token()))
	select {
	case <-work.Done():
	case <-time.After(waitBound):
		t.Fatalf("KeepAlive did not report the loss within %v", waitBound)
	}
	assert.ErrorIs(t, context.Cause(work), lock.ErrLost)
	assert.ErrorIs(t, context.Cause(work), lock.ErrNotHeld)
	assert.Positive(t, l.Stats().Lost)
}

func testInvalidArguments(t *testing.T, e *env) {
	ctx := t.Context()
	l := e.newLocker(t, lock.Options{})
	_, err := l.Acquire(ctx, "", e.ttl, 0)
	assert.Error(t, err)
	_, err = l.Acquire(ctx, randomKey(), 0, 0)
	assert.Error(t, err)
	assert.NotErrorIs(t, err, lock.ErrNotObtained, "a bad argument is not contention")
	_, err = l.Extend(ctx, randomKey(), "t", time.Microsecond)
	assert.Error(t, err)
	assert.Error(t, l.Release(ctx, "", "t"))
	assert.Zero(t, l.Stats().Acquired)
}
