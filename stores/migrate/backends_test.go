package migrate_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	boltstore "github.com/sidecarproxy/sidecar/stores/bolt"
	"github.com/sidecarproxy/sidecar/stores/migrate"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// targets are the Redis deployments a migration may copy into.
var targets = []struct {
	name   string
	client func(t *testing.T) redis.UniversalClient
}{
	{"Standalone", func(t *testing.T) redis.UniversalClient { return redistest.Start(t).Client(t) }},
	{"Cluster", func(t *testing.T) redis.UniversalClient { return redistest.StartCluster(t, 3).Client(t) }},
}

// newRedis is a store on client under a prefix of its own.
func newRedis(client redis.UniversalClient, clock *clocktest.Clock) *redisstore.Store {
	return redisstore.New(client, redisstore.Options{Prefix: "m" + randomHex(4) + ":", Clock: clock.Now})
}

// TestBoltToRedis: the sessions of a bolt file, opened read-only, copied
// into Redis whole (an expired one left behind); the file is not changed
// by a byte.
func TestBoltToRedis(t *testing.T) {
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktest.New()
			path := filepath.Join(t.TempDir(), "sessions.db")
			w, err := boltstore.Open(path, boltstore.Options{Clock: clock.Now, SweepInterval: -1})
			require.NoError(t, err)
			want := fill(t, w, clock, 40)
			short := newRecord(clock, "ann")
			short.IdleExp = clock.Now().Add(time.Minute)
			require.NoError(t, w.Create(t.Context(), randomHex(32), short))
			require.NoError(t, w.Close())
			clock.Advance(2 * time.Minute)
			before, err := os.ReadFile(path)
			require.NoError(t, err)

			src, err := boltstore.Open(path, boltstore.Options{Clock: clock.Now, ReadOnly: true})
			require.NoError(t, err)
			defer func() { require.NoError(t, src.Close()) }()
			dst := newRedis(tt.client(t), clock)
			stats, err := migrate.Copy(t.Context(), src, dst, migrate.Options{Clock: clock.Now})
			require.NoError(t, err)
			assert.Equal(t, migrate.Stats{Read: 40, Copied: 40}, stats, "the expired session is not even read")
			assertHolds(t, dst, want)

			after, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, before, after, "the source file is unchanged")
		})
	}
}

// TestRedisToRedis: from one Redis deployment to another; the source is
// not written (not even the expired session it still holds, which a Load
// would delete).
func TestRedisToRedis(t *testing.T) {
	for _, tt := range targets {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktest.New()
			srcClient := redistest.Start(t).Client(t)
			src := newRedis(srcClient, clock)
			want := fill(t, src, clock, 600) // more than one SCAN batch
			short := newRecord(clock, "ann")
			short.IdleExp = clock.Now().Add(time.Minute)
			require.NoError(t, src.Create(t.Context(), randomHex(32), short))
			clock.Advance(2 * time.Minute)
			before := dump(t, srcClient)

			dst := newRedis(tt.client(t), clock)
			stats, err := migrate.Copy(t.Context(), src, dst, migrate.Options{Clock: clock.Now})
			require.NoError(t, err)
			assert.Equal(t, migrate.Stats{Read: 600, Copied: 600}, stats)
			assertHolds(t, dst, want)
			assert.Equal(t, before, dump(t, srcClient), "the source is unchanged")

			stats, err = migrate.Copy(t.Context(), src, dst, migrate.Options{Clock: clock.Now})
			require.NoError(t, err)
			assert.Equal(t, migrate.Stats{Read: 600, Existing: 600}, stats, "a second run")
		})
	}
}

// dump is every key of a standalone server with its type and contents,
// for comparing before and after.
func dump(t *testing.T, client redis.UniversalClient) map[string]string {
	t.Helper()
	ctx := t.Context()
	keys, err := client.Keys(ctx, "*").Result()
	require.NoError(t, err)
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		typ, err := client.Type(ctx, k).Result()
		require.NoError(t, err)
		var v any
		switch typ {
		case "hash":
			v, err = client.HGetAll(ctx, k).Result()
		case "zset":
			v, err = client.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "string":
			v, err = client.Get(ctx, k).Result()
		}
		require.NoError(t, err)
		out[k] = typ + " " + fmt.Sprint(v) // fmt sorts map keys
	}
	return out
}
