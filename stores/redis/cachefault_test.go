package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/tlstest"
	"github.com/sidecarproxy/sidecar/sessions"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// assertNeverStale reads key through s until fresh accepts an answer,
// failing on any answer stale matches to a read begun later than allowed
// after the call (an error is neither: Redis may be unreachable for a
// while), for at most waitFor.
func assertNeverStale(t *testing.T, s *redisstore.Store, key string, allowed time.Duration, stale, fresh func(*sessions.Record, error) bool) {
	t.Helper()
	start := time.Now()
	for {
		began := time.Since(start) // the answer is decided no earlier
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		rec, err := s.Load(ctx, key, nil)
		cancel()
		if stale(rec, err) {
			require.Less(t, began, allowed, "served a stale session: %+v, %v", rec, err)
		}
		if fresh(rec, err) {
			return
		}
		require.Less(t, time.Since(start), waitFor, "no fresh answer (last: %v)", err)
	}
}

// version returns a predicate matching a record at version v.
func version(v int64) func(*sessions.Record, error) bool {
	return func(rec *sessions.Record, err error) bool { return err == nil && rec.Version == v }
}

// Losing B's invalidation channel flushes B's cache at once; while the
// channel cannot be set up again, B reads Redis, so a write through A
// meanwhile is seen; once it is back, B caches again.
func TestCacheChannelLost(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	admin := srv.Client(t)
	ctx := t.Context()
	// B is a user of its own, whose right to subscribe the test takes
	// away to keep B's channel down.
	require.NoError(t, admin.Do(ctx, "ACL", "SETUSER", "b", "on", ">pw", "~*", "&*", "+@all").Err())
	cb := redis.NewClient(&redis.Options{Addr: srv.Addr(), Username: "b", Password: "pw", ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = cb.Close() })
	e := newCacheEnvOn(t, srv.Client(t), cb)
	key := e.create()
	e.warm(e.b, key)
	flushes := e.b.CacheStats().Flushes

	require.NoError(t, admin.Do(ctx, "ACL", "SETUSER", "b", "-subscribe").Err())
	require.NoError(t, admin.Do(ctx, "CLIENT", "KILL", "USER", "b").Err())
	waitUntil(t, "B flushes", func() bool { st := e.b.CacheStats(); return st.Flushes > flushes && st.Entries == 0 })
	assert.False(t, e.b.CacheStats().Usable)

	v, err := e.a.Apply(ctx, key, &sessions.Delta{Set: map[string]json.RawMessage{"x": json.RawMessage(`1`)}})
	require.NoError(t, err)
	assertNeverStale(t, e.b, key, 0, version(v-1), version(v))
	assert.False(t, e.b.CacheStats().Usable, "B's channel is still down")
	waitUntil(t, "B fails to set its channel up", func() bool {
		err := e.b.CacheStats().LastError
		return err != nil && strings.Contains(err.Error(), "NOPERM")
	})

	require.NoError(t, admin.Do(ctx, "ACL", "SETUSER", "b", "+subscribe").Err())
	waitUntil(t, "B's cache usable again", func() bool { return e.b.CacheStats().Usable })
	e.warm(e.b, key)
	rec, err := e.b.Load(ctx, key, nil)
	require.NoError(t, err)
	assert.Equal(t, v, rec.Version)
}

// A Redis killed (SIGKILL) and started again, empty, never has B serve
// the session it had cached; B caches again once Redis is back.
func TestCacheRedisKilled(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	e := newCacheEnv(t, srv.Client)
	key := e.create()
	e.warm(e.b, key)
	old, err := e.b.Load(e.ctx, key, nil)
	require.NoError(t, err)

	srv.Kill()
	waitUntil(t, "B flushes", func() bool { return e.b.CacheStats().Entries == 0 })
	srv.Start()
	// The data is gone; a new session under the same key, written while
	// B's channel may still be down, is all B may show.
	rec := record(e.clock, "someone-else")
	rec.Attrs = map[string]json.RawMessage{"new": json.RawMessage(`true`)}
	waitUntil(t, "A writes to the new Redis", func() bool {
		err := e.a.Create(e.ctx, key, rec)
		return err == nil || errors.Is(err, sessions.ErrExists) // a reply lost
	})
	assertNeverStale(t, e.b, key, 0,
		func(r *sessions.Record, err error) bool { return err == nil && r.Principal == old.Principal },
		func(r *sessions.Record, err error) bool { return err == nil && r.Principal == "someone-else" })
	waitUntil(t, "B's cache usable again", func() bool { return e.b.CacheStats().Usable })
	e.warm(e.b, key)
}

// A heartbeat that is late (Redis frozen for less than the loss timeout)
// has the cache bypassed at once; once heartbeats are back it serves
// again, having kept its entries (no message was lost).
func TestCacheLateHeartbeatBypasses(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	e := newCacheEnv(t, srv.Client)
	key := e.create()
	// Once the cache is usable a bound after the Create, a heartbeat sent
	// after it is back, so the Create's invalidation has been applied and
	// cannot drop the entry later (on a busy machine it may come late).
	created := time.Now()
	waitUntil(t, "a heartbeat after the Create", func() bool {
		return time.Since(created) > bound && e.b.CacheStats().Usable
	})
	e.warm(e.b, key)
	flushes := e.b.CacheStats().Flushes

	srv.Pause()
	paused := time.Now()
	var lastUsable time.Duration // when the last check that found it usable began
	waitUntil(t, "B bypasses its cache", func() bool {
		began := time.Since(paused)
		if e.b.CacheStats().Usable {
			lastUsable = began
			return false
		}
		return true
	})
	srv.Resume()
	t.Logf("cache last found usable %v after Redis froze (bound %v)", lastUsable, bound)
	assert.Less(t, lastUsable, bound, "bypassed within the bound")
	waitUntil(t, "B's cache usable again", func() bool { return e.b.CacheStats().Usable })
	st := e.b.CacheStats()
	if st.Flushes == flushes { // a loaded machine may have stretched the pause to the loss timeout
		assert.Equal(t, 1, st.Entries, "the entry survived a late heartbeat")
	}
}

// A Sentinel failover flushes B's cache (its tracking connection's server
// is no longer the master) and B never serves the session as it was
// before a write made through A after the failover; B's cache follows
// the new master.
func TestCacheSentinelFailover(t *testing.T) {
	t.Parallel()
	sent := redistest.StartSentinelReplicated(t)
	e := newCacheEnv(t, sent.Client)
	key := e.create()
	e.warm(e.b, key)
	flushes := e.b.CacheStats().Flushes

	sent.Failover(t)
	e.recovers(key, flushes)
}

// recovers checks what follows a failover or a re-shard after B cached
// key and had flushed flushes times: B flushes; A's next write (retried
// while A's client finds the new master) is seen by B within the bound;
// B's cache is usable again, and sees A's writes there too.
func (e *cacheEnv) recovers(key string, flushes int64) {
	t := e.t
	t.Helper()
	waitUntil(t, "B flushes", func() bool { return e.b.CacheStats().Flushes > flushes })
	var v int64
	var last atomic.Value // the last error, for the failure message
	waitUntil(t, "A writes to the new master", func() bool {
		var err error
		v, err = e.a.Apply(e.ctx, key, &sessions.Delta{Set: map[string]json.RawMessage{"after": json.RawMessage(`1`)}})
		if err != nil && fmt.Sprint(last.Load()) != err.Error() {
			last.Store(err.Error())
			t.Logf("A's write, retried: %v", err)
		}
		return err == nil
	})
	assertNeverStale(t, e.b, key, bound, version(v-1), version(v))
	waitUntil(t, "B's cache usable again", func() bool { return e.b.CacheStats().Usable })
	e.warm(e.b, key)
	v, err := e.a.Apply(e.ctx, key, &sessions.Delta{Set: map[string]json.RawMessage{"again": json.RawMessage(`1`)}})
	require.NoError(t, err)
	assertNeverStale(t, e.b, key, bound, version(v-1), version(v))
}

// Moving the slot of a cached session to another master (a re-shard)
// flushes B's cache; B then serves the session from its new master, and
// sees A's writes there.
func TestCacheClusterReshard(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3)
	e := newCacheEnv(t, cl.Client)
	key := e.create()
	e.warm(e.b, key)
	flushes := e.b.CacheStats().Flushes
	slot := cl.KeySlot(t, e.a.Prefix()+"s:"+key)

	cl.MoveSlot(t, slot, (cl.SlotOwner(t, slot)+1)%len(cl.Nodes()))
	e.recovers(key, flushes)
}

// The channels are set up over TLS, with a client certificate, as the
// store's own connections are.
func TestCacheOverTLS(t *testing.T) {
	t.Parallel()
	ca := tlstest.NewCA(t, "redis CA")
	server := ca.Server(t, "127.0.0.1")
	srv := redistest.StartTLS(t, redistest.TLS{CertFile: server.CertFile, KeyFile: server.KeyFile, CAFile: ca.CertFile,
		AuthClients: true, Client: ca.ClientConfig(t, ca.Client(t, "sidecar"))})
	e := newCacheEnv(t, srv.Client)
	key := e.create()
	e.warm(e.b, key)
	v, err := e.a.Apply(e.ctx, key, &sessions.Delta{Set: map[string]json.RawMessage{"x": json.RawMessage(`1`)}})
	require.NoError(t, err)
	assertNeverStale(t, e.b, key, bound, version(v-1), version(v))
}
