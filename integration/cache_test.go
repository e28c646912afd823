package integration

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

// hgetallCalls is how many HGETALL the server has run: the reads the
// Redis store's cache (store.redis.cache, on by default) did not answer.
func hgetallCalls(t *testing.T, p *pair) int64 {
	t.Helper()
	info, err := p.redis.Client(t).Info(t.Context(), "commandstats").Result()
	require.NoError(t, err)
	return commandCalls(info, "hgetall")
}

// commandCalls reads the calls of cmd from INFO commandstats.
func commandCalls(info, cmd string) int64 {
	for line := range strings.Lines(info) {
		if rest, ok := strings.CutPrefix(line, "cmdstat_"+cmd+":calls="); ok {
			n, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
			return n
		}
	}
	return 0
}

// TestCacheWriteAndLogoutThroughASeenByB pins issue 13 ("It must show",
// second point) through two whole Sidecars sharing a Redis with their
// caches on: B answers a session's reads from memory, and a write and then
// a logout through A reach B's answers within store.redis.cache_staleness
// of A's response: no answer of B's later than that shows the session as
// it was.
func TestCacheWriteAndLogoutThroughASeenByB(t *testing.T) {
	p := newPair(t)
	bound := config.Default().Store.Redis.CacheStaleness
	c := &client{t: t}
	c.get(p.a, "/login?user=ann", nil)
	cookie := c.cookie

	// within returns once B answers as fresh says, failing on a stale
	// answer to a request sent later than the bound after since.
	within := func(what string, since time.Time, fresh func(appView) bool) time.Duration {
		t.Helper()
		for {
			b := &client{t: t, cookie: cookie}
			began := time.Since(since) // B decides the answer no earlier
			resp, v := b.get(p.b, "/whoami", nil)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			if fresh(v) {
				return time.Since(since)
			}
			require.Less(t, began, bound, "%s: B still answers with the session as it was", what)
		}
	}

	for attempt := 1; ; attempt++ {
		c.get(p.b, "/whoami", nil) // B's cache misses, and keeps the session
		before := hgetallCalls(t, p)
		for range 5 {
			_, v := c.get(p.b, "/whoami", nil)
			require.Equal(t, "ann", v.Subject)
		}
		if hgetallCalls(t, p) == before {
			break
		}
		// A late heartbeat on a busy machine sent a read to Redis, as it
		// must; look again.
		require.Less(t, attempt, 10, "B never answered from its cache")
	}

	c.get(p.a, "/set?k=cart&v=[3]", nil)
	d := within("write", time.Now(), func(v appView) bool { return v.Data["cart"] != nil })
	t.Logf("a write through A seen by B after %v (bound %v)", d, bound)

	_, v := c.get(p.b, "/whoami", nil)
	require.Equal(t, []any{3.0}, v.Data["cart"])
	c.get(p.a, "/logout", nil)
	d = within("logout", time.Now(), func(v appView) bool { return v.New })
	t.Logf("a logout through A seen by B after %v (bound %v)", d, bound)
}

// TestCacheOffReadsRedisEveryTime: store.redis.cache false sends every
// read to Redis.
func TestCacheOffReadsRedisEveryTime(t *testing.T) {
	p := newPairWith(t, func(c *config.Config) { c.Store.Redis.Cache = false })
	c := &client{t: t}
	c.get(p.a, "/login?user=ann", nil)
	rdb := p.redis.Client(t)
	before, err := rdb.Info(t.Context(), "commandstats").Result()
	require.NoError(t, err)
	for range 5 {
		c.get(p.b, "/whoami", nil)
	}
	after, err := rdb.Info(t.Context(), "commandstats").Result()
	require.NoError(t, err)
	assert.Equal(t, commandCalls(before, "evalsha")+5, commandCalls(after, "evalsha"), "one script per read")
	keys, err := rdb.Keys(t.Context(), "sidecar:hb:*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys, "no heartbeat without the cache")
}
