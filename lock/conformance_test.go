package lock_test

import (
	"context"
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
	h, err := holder.Acquire(ctx, key, e.ttl, 0)
	require.NoError(t, err)

	e.advance(e.ttl)
	r := receive(t, acquireAsync(ctx, waiter, key, e.ttl, 10*time.Second))
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

// testWokenByRelease sets the poll interval (5s) far above what a
// notified waiter needs and checks that the waiter got the lock through
// the notification. It asserts no time bound.
func testWokenByRelease(t *testing.T, e *env) {
	ctx := t.Context()
	opts := lock.Options{RetryMin: 5 * time.Second, RetryMax: 5 * time.Second}
	holder := e.newLocker(t, opts)
	waiter := e.newLocker(t, opts)
	require.NoError(t, waiter.Listen(ctx))
	key := randomKey()
	h, err := holder.Acquire(ctx, key, time.Minute, 0)
	require.NoError(t, err)

	ch := acquireAsync(ctx, waiter, key, time.Minute, 10*time.Second)
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
	h, err := holder.Acquire(ctx, key, time.Minute, 0)
	require.NoError(t, err)

	ch := acquireAsync(ctx, waiter, key, time.Minute, 10*time.Second)
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
	_, err := holder.Acquire(ctx, key, time.Minute, 0)
	require.NoError(t, err)

	t.Run("AlreadyCancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := waiter.Acquire(cctx, randomKey(), e.ttl, 10*time.Second)
		assert.ErrorIs(t, err, lock.ErrNotObtained)
		assert.ErrorIs(t, err, context.Canceled)
	})
	t.Run("Deadline", func(t *testing.T) {
		dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := waiter.Acquire(dctx, key, time.Minute, 10*time.Second)
		assert.ErrorIs(t, err, lock.ErrNotObtained)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 3*time.Second, "the deadline, not the wait bound, ended the wait")
	})
	t.Run("CancelledWhileWaiting", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		ch := acquireAsync(cctx, waiter, key, time.Minute, 10*time.Second)
		waitFor(t, "the waiter to wait", func() bool { return waiter.Stats().Waiting == 1 })
		cancel()
		r := receive(t, ch)
		assert.ErrorIs(t, r.err, lock.ErrNotObtained)
		assert.ErrorIs(t, r.err, context.Canceled)
	})
	t.Run("WaitBound", func(t *testing.T) {
		start := time.Now()
		_, err := waiter.Acquire(ctx, key, time.Minute, 50*time.Millisecond)
		assert.ErrorIs(t, err, lock.ErrNotObtained)
		assert.NoError(t, ctx.Err())
		assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond, "waited the whole bound")
	})
	assert.EqualValues(t, 4, waiter.Stats().NotObtained)
}

// testMutualExclusion has 20 clients (Lockers, for Redis) take turns on a
// counter they increment non-atomically — read, pause, write — only while
// holding the lock. Any overlap loses an update. The fences, recorded in
// the order the leases were held, must strictly increase.
func testMutualExclusion(t *testing.T, e *env) {
	const clients, rounds = 20, 5
	ctx := t.Context()
	key := randomKey()
	var (
		counter atomic.Int64 // read and written separately: not an atomic increment
		mu      sync.Mutex
		fences  []int64
	)
	lockers := make([]*lock.Locker, clients)
	for i := range lockers {
		lockers[i] = e.newLocker(t, lock.Options{})
	}
	errs := make(chan error, clients*rounds)
	var wg sync.WaitGroup
	for _, l := range lockers {
		wg.Go(func() {
			for range rounds {
				lease, err := l.Acquire(ctx, key, time.Minute, 30*time.Second)
				if err != nil {
					errs <- err
					return
				}
				v := counter.Load()
				time.Sleep(100 * time.Microsecond) // widen the window an overlap would need
				counter.Store(v + 1)
				mu.Lock()
				fences = append(fences, lease.Fence())
				mu.Unlock()
				if err := lease.Release(ctx); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	assert.EqualValues(t, clients*rounds, counter.Load(), "an update was lost: two holders overlapped")
	require.Len(t, fences, clients*rounds)
	for i := 1; i < len(fences); i++ {
		assert.Greater(t, fences[i], fences[i-1], "fence %d is not above its predecessor", i)
	}
}

func testKeepAlive(t *testing.T, e *env) {
	ctx := t.Context()
	l := e.newLocker(t, lock.Options{})
	other := e.newLocker(t, lock.Options{})
	key := randomKey()
	const ttl = 600 * time.Millisecond
	lease, err := l.Acquire(ctx, key, ttl, 0)
	require.NoError(t, err)

	work, stop := lease.KeepAlive(ctx)
	// Three extensions, one every ttl/3: the lease has outlived its TTL.
	waitFor(t, "three extensions", func() bool { return l.Stats().Extended >= 3 })
	_, err = other.Acquire(ctx, key, ttl, 0)
	assert.ErrorIs(t, err, lock.ErrNotObtained, "a kept-alive lease stays held past its TTL")
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
	lease, err := l.Acquire(ctx, key, 600*time.Millisecond, 0)
	require.NoError(t, err)
	work, stop := lease.KeepAlive(ctx)
	defer stop()

	// Someone ends the lease behind the keeper's back.
	require.NoError(t, l.Release(ctx, key, lease.Token()))
	select {
	case <-work.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("KeepAlive did not report the loss")
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
