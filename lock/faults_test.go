package lock_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// faulty returns a Locker on a fault-injecting wrapper of a fresh server's
// client, the wrapper, and the real client.
func faulty(t *testing.T, opts lock.Options) (*lock.Locker, *faultyClient, redis.UniversalClient) {
	real := redistest.Start(t).Client(t)
	fc := &faultyClient{Client: real}
	l := lock.NewRedis(fc, redisOptions(opts))
	t.Cleanup(func() { _ = l.Close() })
	return l, fc, real
}

func TestAcquireWhileRedisFails(t *testing.T) {
	t.Parallel()
	l, fc, _ := faulty(t, lock.Options{})
	fc.mode.Store(failBefore)
	const ttl, wait = shortTTL, 100 * time.Millisecond
	start := time.Now()
	_, err := l.Acquire(t.Context(), randomKey(), ttl, wait)
	require.ErrorIs(t, err, lock.ErrNotObtained)
	assert.ErrorIs(t, err, lock.ErrUnavailable)
	assert.ErrorIs(t, err, errInjected)
	assert.Less(t, time.Since(start), wait+ttl, "gave up within the wait bound (plus one attempt)")
	st := l.Stats()
	assert.GreaterOrEqual(t, st.Errors, int64(2), "every attempt failed")
	assert.EqualValues(t, 1, st.NotObtained)
	assert.Zero(t, st.Contended, "failures are not contention")
}

// An attempt whose reply is lost may have taken the lock: it is released,
// not left to block the key until its TTL.
func TestLostReplyIsCleanedUp(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	l, fc, real := faulty(t, lock.Options{})
	key := randomKey()
	rkey := lock.DefaultPrefix + key

	fc.mode.Store(loseReply)
	_, err := l.Acquire(ctx, key, time.Hour, 0)
	require.ErrorIs(t, err, lock.ErrNotObtained)
	assert.ErrorIs(t, err, errInjected)
	fc.mode.Store(healthy)

	waitFor(t, "the cleanup to release the lock", func() bool {
		return real.HGet(ctx, rkey, "tok").Err() == redis.Nil
	})
	assert.True(t, real.HExists(ctx, rkey, "fence").Val(), "the script had run and taken the lock")
	lease, err := l.Acquire(ctx, key, time.Hour, 0)
	require.NoError(t, err, "the key is free, not blocked for the hour")
	require.NoError(t, lease.Release(ctx))
}

// KeepAlive retries failed extensions, and reports the lease lost when its
// validity runs out before one succeeds.
func TestKeepAliveLosesToOutage(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	l, fc, _ := faulty(t, lock.Options{})
	lease, err := l.Acquire(ctx, randomKey(), shortTTL, 0)
	require.NoError(t, err)
	work, stop := lease.KeepAlive(ctx)
	defer stop()
	waitFor(t, "an extension", func() bool { return l.Stats().Extended >= 1 || work.Err() != nil })
	require.NoError(t, work.Err(), "the keeper lost the lease before Redis failed: %v", context.Cause(work))

	fc.mode.Store(failBefore)
	select {
	case <-work.Done():
	case <-time.After(waitBound):
		t.Fatalf("KeepAlive did not report the loss within %v", waitBound)
	}
	cause := context.Cause(work)
	assert.ErrorIs(t, cause, lock.ErrLost)
	assert.ErrorIs(t, cause, lock.ErrUnavailable, "the cause says why the extensions failed")
	assert.ErrorIs(t, cause, errInjected)
	assert.False(t, time.Now().Before(lease.Until()), "lost only once the validity ran out")
	st := l.Stats()
	assert.EqualValues(t, 1, st.Lost)
	assert.GreaterOrEqual(t, st.Errors, int64(2), "failed extensions were retried")
}

// With one of three masters failing, extensions and releases still reach
// a quorum.
func TestRedlockToleratesAFailingMaster(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, clients := masters(t, 3)
	fc := &faultyClient{Client: clients[0]}
	fc.mode.Store(failBefore)
	l, err := lock.NewRedlock([]lock.Client{fc, clients[1], clients[2]}, redisOptions(lock.Options{}))
	require.NoError(t, err)
	defer l.Close()
	lease, err := l.Acquire(ctx, randomKey(), longTTL, 0)
	require.NoError(t, err)
	require.NoError(t, lease.Extend(ctx, longTTL))
	require.NoError(t, lease.Release(ctx))
	assert.ErrorIs(t, lease.Release(ctx), lock.ErrNotHeld, "two masters say not held: a quorum cannot")
}
