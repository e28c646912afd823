package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
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

// waitFor bounds every wait of the cache tests for a condition that
// arrives on its own (a channel set up again, a flush seen).
const waitFor = 30 * time.Second

// cacheEnv is two Sidecar instances' stores on one deployment: A and B,
// each with a client, a cache and a heartbeat of its own, sharing a key
// prefix and a clock.
type cacheEnv struct {
	t     *testing.T
	ctx   context.Context
	clock *clocktest.Clock
	a, b  *redisstore.Store
}

// newCacheEnv starts A and B on clients from newClient and waits until
// both caches are usable.
func newCacheEnv(t *testing.T, newClient func(testing.TB) redis.UniversalClient) *cacheEnv {
	t.Helper()
	return newCacheEnvOn(t, newClient(t), newClient(t))
}

// newCacheEnvOn is newCacheEnv on the clients ca and cb.
func newCacheEnvOn(t *testing.T, ca, cb redis.UniversalClient) *cacheEnv {
	t.Helper()
	clock := clocktest.New()
	opts := redisstore.Options{Prefix: "k" + randomHex(4) + ":", Clock: clock.Now}
	return &cacheEnv{t: t, ctx: t.Context(), clock: clock, a: startCached(t, ca, opts), b: startCached(t, cb, opts)}
}

// create stores a new session through A and returns its key.
func (e *cacheEnv) create() string {
	e.t.Helper()
	key := randomKey()
	require.NoError(e.t, e.a.Create(e.ctx, key, record(e.clock, "p")))
	return key
}

// warm reads key through s until s serves it from its cache.
func (e *cacheEnv) warm(s *redisstore.Store, key string) {
	e.t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		hits := s.CacheStats().Hits
		_, err := s.Load(e.ctx, key, nil)
		require.NoError(e.t, err)
		if s.CacheStats().Hits > hits {
			return
		}
		require.True(e.t, time.Now().Before(deadline), "%s not served from the cache within %v: %+v", key, waitFor, s.CacheStats())
	}
}

// waitUntil polls cond until it holds, failing the test after waitFor.
// cond runs on another goroutine: it must not fail the test itself.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, waitFor, 2*time.Millisecond, "not within %v: %s", waitFor, what)
}

// commandCalls sums, over servers, the calls INFO commandstats counts for
// each of cmds (lower case).
func commandCalls(t *testing.T, servers []*redistest.Server, cmds ...string) int64 {
	t.Helper()
	var n int64
	for _, srv := range servers {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr()})
		info, err := c.Info(t.Context(), "commandstats").Result()
		_ = c.Close()
		require.NoError(t, err)
		for line := range strings.Lines(info) {
			for _, cmd := range cmds {
				if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
					v, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
					n += v
				}
			}
		}
	}
	return n
}

// testCache runs the cache's behaviour tests on a deployment: clients from
// newClient, servers its masters.
func testCache(t *testing.T, newClient func(testing.TB) redis.UniversalClient, servers []*redistest.Server) {
	t.Run("HitIsNoRoundTrip", func(t *testing.T) { testHitIsNoRoundTrip(t, newClient, servers) })
	t.Run("OtherInstanceWithinBound", func(t *testing.T) { testOtherInstanceWithinBound(t, newClient) })
	t.Run("OwnWriteSeenAtOnce", func(t *testing.T) { testOwnWriteSeenAtOnce(t, newClient) })
	t.Run("TouchOncePerInterval", func(t *testing.T) { testTouchOncePerInterval(t, newClient) })
	t.Run("TimeoutsEnforced", func(t *testing.T) { testTimeoutsEnforced(t, newClient) })
	t.Run("FreshReadSkipsCache", func(t *testing.T) { testFreshReadSkipsCache(t, newClient) })
	t.Run("ScriptsLoaded", func(t *testing.T) { testScriptsLoaded(t, newClient(t), servers) })
}

// A read the cache answers sends nothing to any server.
func testHitIsNoRoundTrip(t *testing.T, newClient func(testing.TB) redis.UniversalClient, servers []*redistest.Server) {
	e := newCacheEnv(t, newClient)
	key := e.create()
	const reads = 200
	for attempt := 1; ; attempt++ {
		e.warm(e.b, key)
		before := e.b.CacheStats()
		calls := commandCalls(t, servers, "hgetall", "evalsha", "eval", "hmget")
		for range reads {
			rec, err := e.b.Load(e.ctx, key, nil)
			require.NoError(t, err)
			assert.JSONEq(t, `{"id": 7}`, string(rec.Attrs["user"]))
		}
		after := e.b.CacheStats()
		if after.Bypassed != before.Bypassed || after.Flushes != before.Flushes || after.Misses != before.Misses {
			// A late heartbeat on a busy machine sent reads to Redis, as
			// it must, or the invalidation of the Create, applied late,
			// dropped the entry (as it may); measure again.
			require.Less(t, attempt, 5, "the cache kept being bypassed: %+v", after)
			continue
		}
		assert.Equal(t, calls, commandCalls(t, servers, "hgetall", "evalsha", "eval", "hmget"), "commands sent for %d hits", reads)
		assert.EqualValues(t, reads, after.Hits-before.Hits)
		return
	}
}

// bound is the staleness the tests' caches promise (the default).
const bound = redisstore.DefaultCacheStaleness

// A write, a logout (Delete) and a login (Regenerate) through A are seen
// by B's reads within the bound: no stale answer is served later than
// that after the write returned. The delays to the first fresh answer
// are logged (p50, p99, max).
func testOtherInstanceWithinBound(t *testing.T, newClient func(testing.TB) redis.UniversalClient) {
	e := newCacheEnv(t, newClient)
	// watch reads key through B from the instant the write returned until
	// fresh says an answer shows it, and returns when B last began a read
	// that answered stale (the answer was decided no earlier: the bound
	// applies to that decision, not to when a busy machine returned it)
	// and when the first fresh answer returned, after that instant.
	watch := func(key string, fresh func(*sessions.Record, error) bool) (stale, first time.Duration) {
		t0 := time.Now()
		for {
			began := time.Since(t0)
			rec, err := e.b.Load(e.ctx, key, nil)
			if fresh(rec, err) {
				return stale, time.Since(t0)
			}
			stale = began
			require.Less(t, began, waitFor, "B still answers stale")
			// A request yields at its I/O; this loop would hold its P for
			// Go's 10ms preemption slice and delay the goroutine that
			// applies invalidations.
			runtime.Gosched()
		}
	}
	var delays []time.Duration
	var worst time.Duration
	check := func(what string, stale, first time.Duration) {
		t.Helper()
		delays = append(delays, first)
		worst = max(worst, stale)
		assert.Less(t, stale, bound, "%s: B began a read that answered stale %v after the write returned", what, stale)
	}
	const rounds = 300
	for i := range rounds {
		key := e.create()
		e.warm(e.b, key)
		switch i % 3 {
		case 0:
			v, err := e.a.Apply(e.ctx, key, &sessions.Delta{Set: map[string]json.RawMessage{"n": json.RawMessage(strconv.Itoa(i))}})
			require.NoError(t, err)
			stale, first := watch(key, func(rec *sessions.Record, err error) bool {
				require.NoError(t, err)
				return rec.Version == v
			})
			check("write", stale, first)
		case 1:
			require.NoError(t, e.a.Delete(e.ctx, key))
			stale, first := watch(key, func(_ *sessions.Record, err error) bool {
				return errors.Is(err, sessions.ErrNotFound)
			})
			check("logout", stale, first)
		case 2:
			_, err := e.a.Regenerate(e.ctx, key, randomKey(), &sessions.Delta{Tombstone: time.Minute})
			require.NoError(t, err)
			stale, first := watch(key, func(_ *sessions.Record, err error) bool {
				return errors.Is(err, sessions.ErrReplaced)
			})
			check("regenerate", stale, first)
		}
	}
	slices.Sort(delays)
	t.Logf("another instance's write seen after: p50 %v, p99 %v, max %v (last stale answer %v after; bound %v; %d writes)",
		delays[len(delays)/2], delays[len(delays)*99/100], delays[len(delays)-1], worst, bound, len(delays))
}

// This instance's own write evicts at once: its next read shows it,
// without waiting for the invalidation message.
func testOwnWriteSeenAtOnce(t *testing.T, newClient func(testing.TB) redis.UniversalClient) {
	e := newCacheEnv(t, newClient)
	for i := range 20 {
		key := e.create()
		e.warm(e.a, key)
		v, err := e.a.Apply(e.ctx, key, &sessions.Delta{Set: map[string]json.RawMessage{"n": json.RawMessage(strconv.Itoa(i))}})
		require.NoError(t, err)
		rec, err := e.a.Load(e.ctx, key, nil)
		require.NoError(t, err)
		assert.Equal(t, v, rec.Version)
		require.NoError(t, e.a.Delete(e.ctx, key))
		_, err = e.a.Load(e.ctx, key, nil)
		assert.ErrorIs(t, err, sessions.ErrNotFound)
	}
}

// touchCounter counts the touch.lua calls a client sends.
type touchCounter struct {
	hash string
	n    atomic.Int64
}

func (h *touchCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *touchCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if args := cmd.Args(); cmd.Name() == "evalsha" && len(args) > 1 && args[1] == h.hash {
			h.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

func (h *touchCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// newManager returns a session Manager on store reading clock, with a
// 30 minute idle timeout, a 2 hour absolute one and a touch interval of a
// minute.
func newManager(t *testing.T, store sessions.Store, clock *clocktest.Clock) (*sessions.Manager, *sessions.Signer) {
	t.Helper()
	signer, err := sessions.NewSigner([][]byte{[]byte("cache-test-cookie-secret-0123456789")})
	require.NoError(t, err)
	m, err := sessions.NewManager(sessions.Options{
		Store: store, Signer: signer, Clock: clock.Now,
		IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 2 * time.Hour, TouchInterval: time.Minute,
	})
	require.NoError(t, err)
	return m, signer
}

// login creates a session through m and returns its cookie value.
func login(t *testing.T, m *sessions.Manager, signer *sessions.Signer) string {
	t.Helper()
	s := m.Identify("")
	require.NoError(t, m.Commit(t.Context(), s, &sessions.Change{Patches: []string{`{"user":"ann"}`}}))
	return signer.Sign(s.Token())
}

// Reads that find the session cached write its idle touch once per
// touch interval, not once per read.
func testTouchOncePerInterval(t *testing.T, newClient func(testing.TB) redis.UniversalClient) {
	client := newClient(t)
	e := newCacheEnvOn(t, newClient(t), client)
	touches := &touchCounter{hash: e.b.TouchHash()}
	client.AddHook(touches)
	ma, signer := newManager(t, e.a, e.clock)
	mb, _ := newManager(t, e.b, e.clock)
	cookie := login(t, ma, signer)
	created := e.clock.Now()

	idle, want := created.Add(30*time.Minute), int64(0)
	hits := e.b.CacheStats().Hits
	for range 60 {
		e.clock.Advance(5 * time.Second)
		s, err := mb.Load(e.ctx, cookie)
		require.NoError(t, err)
		require.NotNil(t, s.Record(), "the session is live")
		if now := e.clock.Now(); idle.Before(now.Add(29 * time.Minute)) {
			want++
			idle = now.Add(30 * time.Minute)
		}
		assert.True(t, s.Record().IdleExp.Equal(idle), "the read shows the idle expiry as touched")
		// Reads minutes apart find the last touch written; these are
		// microseconds apart, so wait for it (else it is merged with the
		// next one, which is right but not what this counts).
		waitUntil(t, "the touch written", func() bool { return e.b.CacheStats().Touches >= want })
		require.Equal(t, want, touches.n.Load(), "touches sent by %v", e.clock.Now().Sub(created))
	}
	assert.Greater(t, e.b.CacheStats().Hits, hits, "the reads were served from the cache")
	rec, err := e.a.Load(sessions.FreshRead(e.ctx), s256(cookie, signer), nil)
	require.NoError(t, err)
	assert.True(t, rec.IdleExp.Equal(idle), "Redis holds the last touch: %v, want %v (%d sent; B: %+v)",
		rec.IdleExp, idle, touches.n.Load(), e.b.CacheStats())
}

// s256 is the store key of a cookie value.
func s256(cookie string, signer *sessions.Signer) string {
	tok, _, err := signer.Verify(cookie)
	if err != nil {
		panic(err)
	}
	return tok.Key()
}

// The idle and absolute timeouts end a session that B serves from its
// cache, at the instants the fields it cached say, by the injected clock.
func testTimeoutsEnforced(t *testing.T, newClient func(testing.TB) redis.UniversalClient) {
	e := newCacheEnv(t, newClient)
	ma, signer := newManager(t, e.a, e.clock)
	mb, _ := newManager(t, e.b, e.clock)
	live := func(cookie string) bool {
		t.Helper()
		s, err := mb.Load(e.ctx, cookie)
		require.NoError(t, err)
		return s.Record() != nil
	}

	t.Run("Idle", func(t *testing.T) {
		cookie := login(t, ma, signer)
		require.True(t, live(cookie))
		e.warm(e.b, s256(cookie, signer))
		e.clock.Advance(30*time.Minute - time.Millisecond)
		hits := e.b.CacheStats().Hits
		require.True(t, live(cookie), "a millisecond before the idle timeout")
		require.Greater(t, e.b.CacheStats().Hits, hits, "served from the cache")
		// That read slid the idle expiry: 30 minutes from now, not earlier.
		e.clock.Advance(30*time.Minute - time.Millisecond)
		require.True(t, live(cookie))
		e.clock.Advance(30 * time.Minute)
		assert.False(t, live(cookie), "30 minutes without a read")
	})

	t.Run("Absolute", func(t *testing.T) {
		cookie := login(t, ma, signer)
		created := e.clock.Now()
		for e.clock.Now().Before(created.Add(2*time.Hour - 10*time.Minute)) {
			e.clock.Advance(10 * time.Minute)
			require.True(t, live(cookie), "read every 10 minutes, at %v", e.clock.Now().Sub(created))
		}
		e.warm(e.b, s256(cookie, signer))
		e.clock.Advance(created.Add(2*time.Hour - time.Millisecond).Sub(e.clock.Now()))
		require.True(t, live(cookie), "a millisecond before the absolute timeout")
		e.clock.Advance(time.Millisecond)
		assert.False(t, live(cookie), "at the absolute timeout, however recently read")
	})
}

// A read marked sessions.FreshRead (a request holding the session's lock)
// goes to Redis even when the session is cached.
func testFreshReadSkipsCache(t *testing.T, newClient func(testing.TB) redis.UniversalClient) {
	e := newCacheEnv(t, newClient)
	key := e.create()
	e.warm(e.b, key)
	before := e.b.CacheStats()
	_, err := e.b.Load(sessions.FreshRead(e.ctx), key, nil)
	require.NoError(t, err)
	after := e.b.CacheStats()
	assert.Equal(t, before.Hits, after.Hits)
	assert.Equal(t, before.Misses+before.Bypassed+1, after.Misses+after.Bypassed)
}

// flushScripts empties the script cache of every master.
func flushScripts(t *testing.T, client redis.UniversalClient) {
	t.Helper()
	ctx := t.Context()
	if c, ok := client.(*redis.ClusterClient); ok {
		require.NoError(t, c.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
			return c.ScriptFlush(ctx).Err()
		}))
		return
	}
	require.NoError(t, client.ScriptFlush(ctx).Err())
}

// allLoaded reports whether every master holds every script of s.
func allLoaded(ctx context.Context, client redis.UniversalClient, s *redisstore.Store) bool {
	got, err := client.ScriptExists(ctx, s.ScriptHashes()...).Result()
	return err == nil && !slices.Contains(got, false)
}

// Start loads every script on every master; after a NOSCRIPT (the
// servers' script caches flushed) the call that met it falls back to
// EVAL and every script is loaded again, so later calls send no EVAL.
func testScriptsLoaded(t *testing.T, client redis.UniversalClient, servers []*redistest.Server) {
	ctx := t.Context()
	clock := clocktest.New()
	flushScripts(t, client)
	s := startCached(t, client, redisstore.Options{Prefix: "t" + randomHex(4) + ":", Clock: clock.Now})
	assert.True(t, allLoaded(ctx, client, s), "loaded by Start")

	key := randomKey()
	require.NoError(t, s.Create(ctx, key, record(clock, "p")))
	flushScripts(t, client)
	_, err := s.Apply(ctx, key, &sessions.Delta{Set: map[string]json.RawMessage{"a": json.RawMessage(`1`)}})
	require.NoError(t, err, "Apply after the flush")
	waitUntil(t, "every script loaded again", func() bool { return allLoaded(ctx, client, s) })

	evals := commandCalls(t, servers, "eval")
	for i := range 5 {
		k := randomKey()
		require.NoError(t, s.Create(ctx, k, record(clock, fmt.Sprint("p", i))))
		_, err := s.Apply(ctx, k, &sessions.Delta{Principal: ptr(fmt.Sprint("q", i))})
		require.NoError(t, err)
		_, err = s.Regenerate(ctx, k, randomKey(), &sessions.Delta{})
		require.NoError(t, err)
	}
	assert.Equal(t, evals, commandCalls(t, servers, "eval"), "EVAL calls once the scripts are back")
}
