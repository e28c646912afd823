package redisstore_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// listAll returns what s.Each passes: the records by key, and the errors.
func listAll(t *testing.T, s *redisstore.Store) (map[string]*sessions.Record, map[string]error) {
	t.Helper()
	recs, errs := map[string]*sessions.Record{}, map[string]error{}
	require.NoError(t, s.Each(t.Context(), func(key string, rec *sessions.Record, err error) error {
		if err != nil {
			errs[key] = err
		} else {
			recs[key] = rec
		}
		return nil
	}))
	return recs, errs
}

func TestEach(t *testing.T) {
	t.Parallel()
	client := redistest.Start(t).Client(t)
	ctx := t.Context()

	// Regression guard: the registry Count reads is no listing. Sessions
	// an older build created, or whose entry lapsed while they lived on,
	// are missing from it; Each still finds them.
	t.Run("FindsSessionsTheRegistryMisses", func(t *testing.T) {
		clock := clocktest.New()
		s := newStore(t, client, clock)
		keys := []string{randomKey(), randomKey()}
		for _, k := range keys {
			require.NoError(t, s.Create(ctx, k, record(clock, "ann")))
		}
		for i := range 16 {
			require.NoError(t, client.Del(ctx, s.Prefix()+"n:"+strconv.FormatInt(int64(i), 16)).Err())
		}
		c, err := s.Count(ctx)
		require.NoError(t, err)
		require.Zero(t, c.Live, "the registry is empty")
		recs, errs := listAll(t, s)
		assert.Empty(t, errs)
		assert.Len(t, recs, 2)
	})

	t.Run("PrefixIsNotAPattern", func(t *testing.T) {
		clock := clocktest.New()
		id := randomHex(4)
		globby := redisstore.New(client, redisstore.Options{Prefix: "g?[*]\\" + id + ":", Clock: clock.Now})
		other := redisstore.New(client, redisstore.Options{Prefix: "gX*]\\" + id + ":", Clock: clock.Now})
		mine := randomKey()
		require.NoError(t, globby.Create(ctx, mine, record(clock, "")))
		require.NoError(t, other.Create(ctx, randomKey(), record(clock, "")))
		recs, _ := listAll(t, globby)
		assert.Equal(t, []string{mine}, listedKeys(recs), "another deployment's sessions are not listed")
	})

	t.Run("WritesNothing", func(t *testing.T) {
		clock := clocktest.New()
		s := newStore(t, client, clock)
		key := randomKey()
		rec := record(clock, "")
		rec.IdleExp = clock.Now().Add(time.Minute)
		require.NoError(t, s.Create(ctx, key, rec))
		clock.Advance(2 * time.Minute)
		recs, _ := listAll(t, s)
		assert.Empty(t, recs, "expired by the store clock")
		n, err := client.Exists(ctx, s.Prefix()+"s:"+key).Result()
		require.NoError(t, err)
		assert.Equal(t, int64(1), n, "the expired hash is left for Redis to drop (Load would delete it)")
	})

	t.Run("MalformedHashPassedWithError", func(t *testing.T) {
		clock := clocktest.New()
		s := newStore(t, client, clock)
		good, bad := randomKey(), randomKey()
		require.NoError(t, s.Create(ctx, good, record(clock, "")))
		future := fmt.Sprint(clock.Now().Add(time.Hour).UnixMilli())
		require.NoError(t, client.HSet(ctx, s.Prefix()+"s:"+bad,
			"idle_exp", future, "abs_exp", future, "version", "x").Err())
		recs, errs := listAll(t, s)
		assert.Equal(t, []string{good}, listedKeys(recs))
		require.Contains(t, errs, bad)
		assert.ErrorContains(t, errs[bad], "malformed session hash")
	})
}

func listedKeys(m map[string]*sessions.Record) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
