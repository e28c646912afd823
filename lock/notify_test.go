package lock_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// After Redis restarts, the notifier subscribes again and waiters are
// still woken by releases rather than by their (here, 10-20s) polls.
func TestNotificationsSurviveARestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	srv := redistest.Start(t)
	opts := redisOptions(lock.Options{RetryMin: 20 * time.Second, RetryMax: 20 * time.Second})
	holder := lock.NewRedis(srv.Client(t), opts)
	defer holder.Close()
	waiter := lock.NewRedis(srv.Client(t), opts)
	defer waiter.Close()
	require.NoError(t, waiter.Listen(ctx))

	srv.Restart()
	key := randomKey()
	h, err := holder.Acquire(ctx, key, longTTL, 0)
	require.NoError(t, err)
	ch := acquireAsync(ctx, waiter, key, longTTL, 25*time.Second)
	waitFor(t, "the waiter to wait", func() bool { return waiter.Stats().Waiting == 1 })
	require.NoError(t, h.Release(ctx))
	r := receive(t, ch)
	require.NoError(t, r.err)
	assert.Positive(t, waiter.Stats().Notified)
}

func TestListen(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	l := lock.NewRedis(srv.Client(t), redisOptions(lock.Options{}))

	require.NoError(t, l.Listen(t.Context()))
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "Close is idempotent")
	assert.Error(t, l.Listen(t.Context()), "a closed Locker does not listen")
	lease, err := l.Acquire(t.Context(), randomKey(), longTTL, time.Second)
	require.NoError(t, err, "a closed Locker still locks")
	require.NoError(t, lease.Release(t.Context()))

	t.Run("ServerDown", func(t *testing.T) {
		srv := redistest.Start(t)
		srv.Stop()
		l := lock.NewRedis(srv.Client(t), lock.Options{})
		defer l.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		err := l.Listen(ctx)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	})
	t.Run("NoNotify", func(t *testing.T) {
		l := lock.NewRedis(srv.Client(t), lock.Options{NoNotify: true})
		assert.NoError(t, l.Listen(t.Context()))
	})
}
