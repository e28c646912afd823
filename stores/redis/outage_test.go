package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// Regression test for protocol pitfall "ContextTimeoutEnabled": a hung
// Redis must fail a Load within the request's deadline, not the client's
// read timeout. That timeout is a minute here, so that a call held to it
// stands out from one a loaded machine was slow to return.
func TestOutage(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := redis.NewClient(&redis.Options{
		Addr:                  srv.Addr(),
		ContextTimeoutEnabled: true,
		ReadTimeout:           time.Minute,
		WriteTimeout:          time.Minute,
	})
	t.Cleanup(func() { _ = client.Close() })
	clock := clocktest.New()
	s := newStore(t, client, clock)
	key := randomKey()
	require.NoError(t, s.Create(t.Context(), key, record(clock, "p")))

	srv.Pause()
	const budget = 200 * time.Millisecond
	calls := map[string]func(ctx context.Context) error{
		"Load": func(ctx context.Context) error { _, err := s.Load(ctx, key, nil); return err },
		"Apply": func(ctx context.Context) error {
			_, err := s.Apply(ctx, key, &sessions.Delta{Principal: ptr("q")})
			return err
		},
		"Create": func(ctx context.Context) error { return s.Create(ctx, randomKey(), record(clock, "p")) },
	}
	for name, call := range calls {
		ctx, cancel := context.WithTimeout(t.Context(), budget)
		start := time.Now()
		err := call(ctx)
		elapsed := time.Since(start)
		cancel()
		require.Error(t, err, name)
		assert.ErrorIs(t, err, context.DeadlineExceeded, name)
		assert.NotErrorIs(t, err, sessions.ErrNotFound, name)
		assert.Less(t, elapsed, budget+10*time.Second, "%s held past its deadline, towards the client's read timeout", name)
	}
	srv.Resume()
	_, err := s.Load(t.Context(), key, nil)
	assert.NoError(t, err, "Load after the outage")
}

func TestCancelledContextSendsNothing(t *testing.T) {
	t.Parallel()
	client := redistest.Start(t).Client(t)
	rt := redistest.CountRoundTrips(client)
	clock := clocktest.New()
	s := newStore(t, client, clock)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.Load(ctx, randomKey(), nil)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, s.Create(ctx, randomKey(), record(clock, "p")), context.Canceled)
	_, err = s.Apply(ctx, randomKey(), &sessions.Delta{})
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.Regenerate(ctx, randomKey(), randomKey(), &sessions.Delta{})
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, s.Delete(ctx, randomKey()), context.Canceled)
	_, err = s.ByPrincipal(ctx, "p")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Zero(t, rt.Count())
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	client := redistest.Start(t).Client(t)
	s := redisstore.New(client, redisstore.Options{})
	assert.Equal(t, "sidecar:", s.Prefix())
	key := randomKey()
	now := time.Now()
	rec := &sessions.Record{Version: 1, Created: now, IdleExp: now.Add(time.Minute), AbsExp: now.Add(time.Hour)}
	require.NoError(t, s.Create(t.Context(), key, rec))
	got, err := s.Load(t.Context(), key, nil)
	require.NoError(t, err)
	assert.Empty(t, got.Attrs)
	assert.NotNil(t, got.Attrs)
	n, err := client.Exists(t.Context(), "sidecar:s:"+key).Result()
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
}
