package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

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
