package redisstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"sync"
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

// targeted runs the tests of this file that hold for every deployment.
func targeted(t *testing.T, client redis.UniversalClient) {
	t.Run("RoundTrips", func(t *testing.T) { testRoundTrips(t, client) })
	t.Run("NoResurrection", func(t *testing.T) { testNoResurrection(t, client) })
	t.Run("KeyLayout", func(t *testing.T) { testKeyLayout(t, client) })
	t.Run("SizeField", func(t *testing.T) { testSizeField(t, client) })
	t.Run("PrincipalIndex", func(t *testing.T) { testPrincipalIndex(t, client) })
	t.Run("ScriptCacheFlushed", func(t *testing.T) { testScriptCacheFlushed(t, client) })
	t.Run("RegenerateRacingApply", func(t *testing.T) { testRegenerateRacingApply(t, client) })
	t.Run("MalformedHash", func(t *testing.T) { testMalformedHash(t, client) })
	t.Run("NoHalfWriteOnIndexFailure", func(t *testing.T) { testNoHalfWriteOnIndexFailure(t, client) })
	t.Run("NoLogoutWhenDeadlinePassesAfterTake", func(t *testing.T) { testNoLogoutWhenDeadlinePassesAfterTake(t, client) })
}

func testRoundTrips(t *testing.T, client redis.UniversalClient) {
	rt := redistest.CountRoundTrips(client)
	clock := clocktest.New()
	s := newStore(t, client, clock)
	ctx := t.Context()

	// Warm up: load every script into the script cache of every server
	// and open connections, so the counts below are the steady state.
	require.NoError(t, s.LoadScripts(ctx))
	warm := randomKey()
	require.NoError(t, s.Create(ctx, warm, record(clock, "warm")))
	_, err := s.Load(ctx, warm, nil)
	require.NoError(t, err)
	_, err = s.Apply(ctx, warm, &sessions.Delta{Principal: ptr("warm2")})
	require.NoError(t, err)
	_, err = s.Regenerate(ctx, warm, randomKey(), &sessions.Delta{})
	require.NoError(t, err)

	key := randomKey()
	var handle string // of key's session, once regenerated
	tests := []struct {
		name string
		want int64
		call func() error
	}{
		// The index entries are written, and confirmed, before the record.
		{"CreateWithPrincipal", 2, func() error { return s.Create(ctx, key, record(clock, "alice")) }},
		{"CreateAnonymous", 2, func() error { return s.Create(ctx, randomKey(), record(clock, "")) }},
		{"Load", 1, func() error { _, err := s.Load(ctx, key, nil); return err }},
		{"LoadTouchNotDue", 1, func() error {
			idle := clock.Now().Add(time.Minute)
			_, err := s.Load(ctx, key, &sessions.Touch{Before: idle, IdleExp: idle})
			return err
		}},
		// The touch moved the expiry far past the registration.
		{"LoadTouchDue", 2, func() error {
			idle := clock.Now().Add(time.Hour)
			_, err := s.Load(ctx, key, &sessions.Touch{Before: idle, IdleExp: idle})
			return err
		}},
		{"LoadMissing", 1, func() error {
			_, err := s.Load(ctx, randomKey(), nil)
			return ignore(err, sessions.ErrNotFound)
		}},
		{"Apply", 1, func() error {
			_, err := s.Apply(ctx, key, &sessions.Delta{
				Set:     map[string]json.RawMessage{"a": json.RawMessage(`1`)},
				Delete:  []string{"cart"},
				IdleExp: clock.Now().Add(time.Hour),
			})
			return err
		}},
		// A principal change indexes first, then writes.
		{"ApplyPrincipalChange", 2, func() error {
			_, err := s.Apply(ctx, key, &sessions.Delta{Principal: ptr("bob"), MaxBytes: 1000, BaseVersion: 2})
			return err
		}},
		{"ApplyRefused", 2, func() error {
			_, err := s.Apply(ctx, key, &sessions.Delta{Principal: ptr("carol"), BaseVersion: 1})
			return ignore(err, sessions.ErrConflict)
		}},
		{"ApplyRefusedNoPrincipal", 1, func() error {
			_, err := s.Apply(ctx, key, &sessions.Delta{BaseVersion: 1})
			return ignore(err, sessions.ErrConflict)
		}},
		{"ApplyPrincipalCleared", 1, func() error {
			_, err := s.Apply(ctx, key, &sessions.Delta{Principal: ptr("")})
			return err
		}},
		// Seal, index, prepare, commit, finish, forget the old key.
		{"Regenerate", 6, func() error {
			next := randomKey()
			_, err := s.Regenerate(ctx, key, next, &sessions.Delta{Principal: ptr("dave")})
			key = next
			return err
		}},
		{"RegenerateAnonymous", 6, func() error {
			next := randomKey()
			handle = randomHex(16)
			_, err := s.Regenerate(ctx, key, next, &sessions.Delta{Principal: ptr(""), Handle: handle})
			key = next
			return err
		}},
		{"ByHandle", 2, func() error { _, err := s.ByHandle(ctx, handle); return err }},
		// Delete, forget.
		{"Delete", 2, func() error { return s.Delete(ctx, key) }},
		{"ByPrincipal", 2, func() error { _, err := s.ByPrincipal(ctx, "alice"); return err }},
		{"Count", 1, func() error { _, err := s.Count(ctx); return err }},
	}
	for _, tt := range tests {
		rt.Reset()
		require.NoError(t, tt.call(), tt.name)
		assert.Equal(t, tt.want, rt.Count(), "round trips of %s", tt.name)
	}
}

// ignore returns nil if err is target, else err.
func ignore(err, target error) error {
	if errors.Is(err, target) {
		return nil
	}
	return err
}

// Regression test for the bug Spring Session and connect-redis shipped: a
// write (HSET) to a session another request just deleted recreated a
// partial session.
func testNoResurrection(t *testing.T, client redis.UniversalClient) {
	ctx := t.Context()
	clock := clocktest.New()
	s := newStore(t, client, clock)
	late := &sessions.Delta{
		Set:       map[string]json.RawMessage{"late": json.RawMessage(`1`)},
		Principal: ptr("late"),
		IdleExp:   clock.Now().Add(time.Hour),
	}

	t.Run("AfterDelete", func(t *testing.T) {
		key := randomKey()
		require.NoError(t, s.Create(ctx, key, record(clock, "p")))
		require.NoError(t, s.Delete(ctx, key))
		_, err := s.Apply(ctx, key, late)
		require.ErrorIs(t, err, sessions.ErrNotFound)
		_, err = s.Regenerate(ctx, key, randomKey(), late)
		require.ErrorIs(t, err, sessions.ErrNotFound)
		assert.Empty(t, keysOf(t, client, s, key), "a refused write left a key behind")
	})

	t.Run("AfterStoreClockExpiry", func(t *testing.T) {
		clock := clocktest.New()
		s := newStore(t, client, clock)
		key := randomKey()
		rec := record(clock, "p")
		require.NoError(t, s.Create(ctx, key, rec))
		// Redis still holds the key (its TTL is 30 real minutes away), but
		// the store clock says the record expired.
		clock.Advance(31 * time.Minute)
		_, err := s.Apply(ctx, key, late)
		require.ErrorIs(t, err, sessions.ErrNotFound)
		assert.Empty(t, keysOf(t, client, s, key), "an expired record must be deleted when seen, not written to")
	})

	t.Run("ApplyRacingDelete", func(t *testing.T) {
		for range 20 {
			key := randomKey()
			require.NoError(t, s.Create(ctx, key, record(clock, "")))
			var wg sync.WaitGroup
			for i := range 4 {
				wg.Go(func() {
					for j := range 20 {
						d := &sessions.Delta{Set: map[string]json.RawMessage{fmt.Sprint("w", i, j): json.RawMessage(`1`)}}
						if _, err := s.Apply(ctx, key, d); err != nil {
							assert.ErrorIs(t, err, sessions.ErrNotFound)
							return
						}
					}
				})
			}
			wg.Go(func() { assert.NoError(t, s.Delete(ctx, key)) })
			wg.Wait()
			_, err := s.Load(ctx, key, nil)
			require.ErrorIs(t, err, sessions.ErrNotFound)
			require.Empty(t, keysOf(t, client, s, key))
		}
	})
}

// keysOf returns the Redis key of key's session if it exists.
func keysOf(t *testing.T, client redis.UniversalClient, s *redisstore.Store, key string) []string {
	t.Helper()
	var found []string
	for _, k := range []string{s.Prefix() + "s:" + key} {
		n, err := client.Exists(t.Context(), k).Result()
		require.NoError(t, err)
		if n > 0 {
			found = append(found, k)
		}
	}
	return found
}

func testKeyLayout(t *testing.T, client redis.UniversalClient) {
	ctx := t.Context()
	clock := clocktest.New()
	s := newStore(t, client, clock)
	key := randomKey()
	rec := record(clock, "alice@example.com")
	rec.Handle, rec.ClientIP, rec.UserAgent = randomHex(16), "192.0.2.1", "curl/8.5"
	require.NoError(t, s.Create(ctx, key, rec))

	sessKey := s.Prefix() + "s:" + key
	sum := sha256.Sum256([]byte(rec.Principal))
	idxKey := s.Prefix() + "p:" + hex.EncodeToString(sum[:])
	shard := fnv.New32a()
	shard.Write([]byte(key))
	regKey := s.Prefix() + "n:" + strconv.FormatUint(uint64(shard.Sum32()%16), 16)
	handleKey := s.Prefix() + "h:" + rec.Handle
	assert.ElementsMatch(t, []string{sessKey, idxKey, regKey, handleKey}, scanPrefix(t, client, s.Prefix()),
		"the store writes exactly the session hash, the principal index, a registry shard and the handle")

	fields, err := client.HGetAll(ctx, sessKey).Result()
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"fmt":       "2",
		"version":   "1",
		"created":   fmt.Sprint(rec.Created.UnixMilli()),
		"idle_exp":  fmt.Sprint(rec.IdleExp.UnixMilli()),
		"abs_exp":   fmt.Sprint(rec.AbsExp.UnixMilli()),
		"principal": "alice@example.com",
		"size":      fmt.Sprint(rec.Size()),
		"handle":    rec.Handle,
		"ip":        "192.0.2.1",
		"ua":        "curl/8.5",
		"reg":       fmt.Sprint(rec.IdleExp.UnixMilli()),
		"a:user":    `{"id": 7}`,
		"a:cart":    `[1, 2]`,
	}, fields)

	ttl, err := client.PTTL(ctx, sessKey).Result()
	require.NoError(t, err)
	assert.InDelta(t, 30*time.Minute, ttl, float64(time.Minute), "session TTL is the idle timeout")
	ttl, err = client.PTTL(ctx, idxKey).Result()
	require.NoError(t, err)
	assert.InDelta(t, 8*time.Hour, ttl, float64(time.Minute), "index TTL is the session's absolute expiry")
	members, err := client.ZRangeWithScores(ctx, idxKey, 0, -1).Result()
	require.NoError(t, err)
	assert.Equal(t, []redis.Z{{Member: key, Score: float64(rec.AbsExp.UnixMilli())}}, members)
	members, err = client.ZRangeWithScores(ctx, regKey, 0, -1).Result()
	require.NoError(t, err)
	assert.Equal(t, []redis.Z{{Member: key, Score: float64(rec.IdleExp.UnixMilli())}}, members,
		"the registry scores the session with its expiry")
	got, err := client.Get(ctx, handleKey).Result()
	require.NoError(t, err)
	assert.Equal(t, key, got, "the handle names the session key")
	ttl, err = client.PTTL(ctx, handleKey).Result()
	require.NoError(t, err)
	assert.InDelta(t, 8*time.Hour, ttl, float64(time.Minute), "the handle lives until the absolute expiry")

	t.Run("TouchMovesTTL", func(t *testing.T) {
		clock.Advance(10 * time.Minute)
		idle := clock.Now().Add(time.Hour)
		_, err := s.Load(ctx, key, &sessions.Touch{Before: idle, IdleExp: idle})
		require.NoError(t, err)
		ttl, err := client.PTTL(ctx, sessKey).Result()
		require.NoError(t, err)
		assert.InDelta(t, time.Hour, ttl, float64(time.Minute))
	})

	t.Run("TTLCappedAtAbsExp", func(t *testing.T) {
		_, err := s.Apply(ctx, key, &sessions.Delta{IdleExp: rec.AbsExp.Add(time.Hour)})
		require.NoError(t, err)
		ttl, err := client.PTTL(ctx, sessKey).Result()
		require.NoError(t, err)
		want := rec.AbsExp.Sub(clock.Now())
		assert.InDelta(t, want, ttl, float64(time.Minute))
	})
}

// scanPrefix returns every key starting with prefix, on every node.
func scanPrefix(t *testing.T, client redis.UniversalClient, prefix string) []string {
	t.Helper()
	ctx := t.Context()
	var keys []string
	var mu sync.Mutex
	scan := func(ctx context.Context, c *redis.Client) error {
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	switch c := client.(type) {
	case *redis.ClusterClient:
		require.NoError(t, c.ForEachMaster(ctx, scan))
	case *redis.Client:
		require.NoError(t, scan(ctx, c))
	default:
		t.Fatalf("scanPrefix: unexpected client %T", client)
	}
	return keys
}

func testSizeField(t *testing.T, client redis.UniversalClient) {
	ctx := t.Context()
	clock := clocktest.New()
	s := newStore(t, client, clock)
	key := randomKey()
	rec := record(clock, "")
	require.NoError(t, s.Create(ctx, key, rec))
	deltas := []sessions.Delta{
		{Set: map[string]json.RawMessage{"a": json.RawMessage(`"x"`), "empty": json.RawMessage(``)}},
		{Set: map[string]json.RawMessage{"a": json.RawMessage(`"longer"`)}, Delete: []string{"cart", "cart", "nope"}},
		{Set: map[string]json.RawMessage{"b": json.RawMessage(`1`)}, Delete: []string{"b", "empty"}},
		{Delete: []string{"user", "a"}},
	}
	for i, d := range deltas {
		_, err := s.Apply(ctx, key, &d)
		require.NoError(t, err)
		got, err := s.Load(ctx, key, nil)
		require.NoError(t, err)
		stored, err := client.HGet(ctx, s.Prefix()+"s:"+key, "size").Int()
		require.NoError(t, err)
		assert.Equal(t, got.Size(), stored, "size field after delta %d", i)
	}
}

func testPrincipalIndex(t *testing.T, client redis.UniversalClient) {
	ctx := t.Context()

	t.Run("ApplyOnFreshStoreIndexesForTheWholeLifetime", func(t *testing.T) {
		// A store that has seen no record cannot bound a session's life
		// without reading it: Apply's script then refuses to write and
		// reports AbsExp, and Apply indexes until then and writes (three
		// round trips); the index entry must last until AbsExp.
		clock := clocktest.New()
		prefix := "t" + randomHex(4) + ":"
		creator := redisstore.New(client, redisstore.Options{Prefix: prefix, Clock: clock.Now})
		key := randomKey()
		rec := record(clock, "")
		rec.IdleExp = rec.AbsExp
		require.NoError(t, creator.Create(ctx, key, rec))

		fresh := redisstore.New(client, redisstore.Options{Prefix: prefix, Clock: clock.Now})
		require.NoError(t, fresh.LoadScripts(ctx))
		rt := redistest.CountRoundTrips(client)
		_, err := fresh.Apply(ctx, key, &sessions.Delta{Principal: ptr("p")})
		require.NoError(t, err)
		assert.EqualValues(t, 3, rt.Count(), "Apply on a store that has seen no record")
		clock.Advance(rec.AbsExp.Sub(clock.Now()) - time.Millisecond)
		keys, err := fresh.ByPrincipal(ctx, "p")
		require.NoError(t, err)
		assert.Equal(t, []string{key}, keys)
	})

	t.Run("LongerSessionThanSeenStillIndexedUntilAbsExp", func(t *testing.T) {
		clock := clocktest.New()
		s := newStore(t, client, clock)
		require.NoError(t, s.Create(ctx, randomKey(), record(clock, ""))) // teaches an 8h life
		key := randomKey()
		rec := record(clock, "")
		rec.AbsExp = rec.Created.Add(48 * time.Hour)
		rec.IdleExp = rec.AbsExp
		// Created through another store, so s has not seen the 48h life.
		other := redisstore.New(client, redisstore.Options{Prefix: s.Prefix(), Clock: clock.Now})
		require.NoError(t, other.Create(ctx, key, rec))
		_, err := s.Apply(ctx, key, &sessions.Delta{Principal: ptr("p")})
		require.NoError(t, err)
		clock.Advance(47 * time.Hour)
		keys, err := s.ByPrincipal(ctx, "p")
		require.NoError(t, err)
		assert.Equal(t, []string{key}, keys)
	})

	t.Run("DeadEntriesPrunedAndIndexExpires", func(t *testing.T) {
		clock := clocktest.New()
		s := newStore(t, client, clock)
		sum := sha256.Sum256([]byte("p"))
		idxKey := s.Prefix() + "p:" + hex.EncodeToString(sum[:])
		old := record(clock, "p")
		k1, k2 := randomKey(), randomKey()
		require.NoError(t, s.Create(ctx, k1, old))
		require.NoError(t, s.Delete(ctx, k1))
		clock.Advance(9 * time.Hour) // k1's entry is now past its AbsExp
		require.NoError(t, s.Create(ctx, k2, record(clock, "p")))
		members, err := client.ZRange(ctx, idxKey, 0, -1).Result()
		require.NoError(t, err)
		assert.Equal(t, []string{k2}, members)

		clock.Advance(9 * time.Hour)
		keys, err := s.ByPrincipal(ctx, "p")
		require.NoError(t, err)
		assert.Empty(t, keys)
		n, err := client.Exists(ctx, idxKey).Result()
		require.NoError(t, err)
		assert.Zero(t, n, "an index with no live entries is deleted")
	})

	t.Run("EmptyPrincipalListsNothing", func(t *testing.T) {
		clock := clocktest.New()
		s := newStore(t, client, clock)
		require.NoError(t, s.Create(ctx, randomKey(), record(clock, "")))
		keys, err := s.ByPrincipal(ctx, "")
		require.NoError(t, err)
		assert.Empty(t, keys)
	})
}

func testScriptCacheFlushed(t *testing.T, client redis.UniversalClient) {
	ctx := t.Context()
	clock := clocktest.New()
	s := newStore(t, client, clock)
	flush := func() {
		t.Helper()
		switch c := client.(type) {
		case *redis.ClusterClient:
			require.NoError(t, c.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
				return c.ScriptFlush(ctx).Err()
			}))
		default:
			require.NoError(t, client.ScriptFlush(ctx).Err())
		}
	}
	key := randomKey()
	flush()
	require.NoError(t, s.Create(ctx, key, record(clock, "p")), "Create (after the index update)")
	flush()
	_, err := s.Load(ctx, key, nil)
	require.NoError(t, err)
	flush()
	v, err := s.Apply(ctx, key, &sessions.Delta{Principal: ptr("q")})
	require.NoError(t, err)
	assert.EqualValues(t, 2, v, "an Apply retried after NOSCRIPT is applied once")
	flush()
	next := randomKey()
	got, err := s.Regenerate(ctx, key, next, &sessions.Delta{})
	require.NoError(t, err)
	assert.EqualValues(t, 3, got.Version)
	keys, err := s.ByPrincipal(ctx, "q")
	require.NoError(t, err)
	assert.Equal(t, []string{next}, keys)
}

// A write to the old key racing with Regenerate is either in the new
// record or refused with ErrNotFound, never lost.
func testRegenerateRacingApply(t *testing.T, client redis.UniversalClient) {
	ctx := t.Context()
	clock := clocktest.New()
	s := newStore(t, client, clock)
	for round := range 20 {
		oldKey, newKey := randomKey(), randomKey()
		require.NoError(t, s.Create(ctx, oldKey, record(clock, "")))
		var mu sync.Mutex
		committed := map[string]bool{}
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Go(func() {
				for j := 0; ; j++ {
					name := fmt.Sprint("w", i, "-", j)
					_, err := s.Apply(ctx, oldKey, &sessions.Delta{Set: map[string]json.RawMessage{name: json.RawMessage(`1`)}})
					if errors.Is(err, sessions.ErrNotFound) {
						return
					}
					if !assert.NoError(t, err) {
						return
					}
					mu.Lock()
					committed[name] = true
					mu.Unlock()
				}
			})
		}
		var got *sessions.Record
		var regenErr error
		wg.Go(func() { got, regenErr = s.Regenerate(ctx, oldKey, newKey, &sessions.Delta{}) })
		wg.Wait()
		require.NoError(t, regenErr)
		for name := range committed {
			assert.Contains(t, got.Attrs, name, "round %d: a committed write to the old key was lost", round)
		}
		loaded, err := s.Load(ctx, newKey, nil)
		require.NoError(t, err)
		assert.Equal(t, got.Attrs, loaded.Attrs)
	}
}

func testMalformedHash(t *testing.T, client redis.UniversalClient) {
	ctx := t.Context()
	clock := clocktest.New()
	s := newStore(t, client, clock)
	key := randomKey()
	future := fmt.Sprint(clock.Now().Add(time.Hour).UnixMilli())
	require.NoError(t, client.HSet(ctx, s.Prefix()+"s:"+key,
		"idle_exp", future, "abs_exp", future, "version", "x").Err())
	_, err := s.Load(ctx, key, nil)
	require.Error(t, err)
	assert.NotErrorIs(t, err, sessions.ErrNotFound)
	assert.Contains(t, err.Error(), "redis store: loading session: malformed session hash")
}
