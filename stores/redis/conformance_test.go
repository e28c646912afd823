package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
	"github.com/sidecarproxy/sidecar/stores/storetest"
)

// conformance runs the storetest suite against stores sharing client,
// each under a prefix of its own (Count sees a whole store).
func conformance(t *testing.T, client redis.UniversalClient) {
	storetest.Run(t, func(t *testing.T, clock func() time.Time) sessions.Store {
		return redisstore.New(client, redisstore.Options{Prefix: "c" + randomHex(4) + ":", Clock: clock})
	})
}

// conformanceCached runs the storetest suite against stores sharing
// client with the cache on, each started and ready before the suite uses
// it.
func conformanceCached(t *testing.T, client redis.UniversalClient) {
	storetest.Run(t, func(t *testing.T, clock func() time.Time) sessions.Store {
		return startCached(t, client, redisstore.Options{Prefix: "c" + randomHex(4) + ":", Clock: clock})
	})
}

// startCached returns a store on client with the cache on, started and
// ready (its cache usable); t.Cleanup closes it.
func startCached(t testing.TB, client redis.UniversalClient, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	opts.Cache.Enabled = true
	s := redisstore.New(client, opts)
	require.NoError(t, s.Start())
	t.Cleanup(func() { _ = s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	require.NoError(t, s.Ready(ctx))
	return s
}

// readyTimeout bounds the wait for a cached store's cache to become
// usable.
const readyTimeout = 30 * time.Second

// deadlines runs the storetest deadline suite against stores sharing
// client, stalling them by freezing every one of servers (SIGSTOP) right
// before a write sends its commit.
func deadlines(t *testing.T, client redis.UniversalClient, servers []*redistest.Server) {
	storetest.RunDeadlines(t, storetest.Stall{
		New: func(t *testing.T, clock func() time.Time, beforeCommit func(context.Context)) sessions.Store {
			return redisstore.New(client, redisstore.Options{
				Prefix:       "t" + randomHex(4) + ":",
				Clock:        clock,
				BeforeCommit: beforeCommit,
			})
		},
		Freeze: func(*testing.T) {
			for _, srv := range servers {
				srv.Pause()
			}
		},
		Thaw: func(*testing.T) {
			for _, srv := range servers {
				srv.Resume()
			}
			for _, srv := range servers {
				srv.Drain()
			}
		},
	})
}
