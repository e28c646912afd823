package redisstore

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

// testRecord is a live record with attrs, expiring an hour after now.
func testRecord(now time.Time, attrs map[string]string) *sessions.Record {
	rec := &sessions.Record{Attrs: map[string]json.RawMessage{}, Version: 1, Created: now,
		IdleExp: now.Add(time.Hour), AbsExp: now.Add(2 * time.Hour), Principal: "p"}
	for k, v := range attrs {
		rec.Attrs[k] = json.RawMessage(v)
	}
	return rec
}

// fill stores rec under key as a read that met no invalidation would.
func fill(c *cache, key string, rec *sessions.Record) {
	c.finish(c.begin(key), key, rec)
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newCache(3, 1<<20)
	now := time.UnixMilli(1_700_000_000_000)
	for i := range 3 {
		fill(c, strconv.Itoa(i), testRecord(now, nil))
	}
	_, ok := c.get("0") // 0 is now the most recent
	require.True(t, ok)
	fill(c, "3", testRecord(now, nil))
	_, ok = c.get("1")
	assert.False(t, ok, "the least recently used went")
	for _, k := range []string{"0", "2", "3"} {
		_, ok := c.get(k)
		assert.True(t, ok, k)
	}
	n, _ := c.len()
	assert.Equal(t, 3, n)
	assert.EqualValues(t, 1, c.stats.evictions.Load())
}

func TestCacheBoundedByBytes(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	big := testRecord(now, map[string]string{"blob": `"` + string(make([]byte, 1000)) + `"`})
	size := newEntry("k0", big).size
	c := newCache(100, 2*size+size/2)
	for i := range 3 {
		fill(c, "k"+strconv.Itoa(i), big)
	}
	n, bytes := c.len()
	assert.Equal(t, 2, n, "two entries fit the bytes")
	assert.LessOrEqual(t, bytes, 2*size+size/2)
	_, ok := c.get("k0")
	assert.False(t, ok)

	tiny := newCache(100, size-1)
	fill(tiny, "k0", big)
	_, ok = tiny.get("k0")
	assert.False(t, ok, "an entry larger than the bound is not kept")
}

func TestCacheShardsOnlyLargeCaches(t *testing.T) {
	assert.Len(t, newCache(DefaultCacheMaxEntries, DefaultCacheMaxBytes).shards, cacheShards)
	assert.Len(t, newCache(100, DefaultCacheMaxBytes).shards, 1, "a small bound stays exact")
}

// The race of client-side caching: a read's answer that an invalidation
// (or a flush) overtook must not be kept.
func TestCacheDropsFillOvertakenByInvalidation(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	for name, spoil := range map[string]func(c *cache){
		"invalidation of the key": func(c *cache) { c.invalidate("k") },
		"flush":                   func(c *cache) { c.flush() },
	} {
		t.Run(name, func(t *testing.T) {
			c := newCache(10, 1<<20)
			tok := c.begin("k")
			later := c.begin("k") // a second read of the key, begun before the spoiling
			spoil(c)
			c.finish(tok, "k", testRecord(now, nil))
			_, ok := c.get("k")
			assert.False(t, ok)
			c.finish(later, "k", testRecord(now, nil))
			_, ok = c.get("k")
			assert.False(t, ok)
			assert.EqualValues(t, 2, c.stats.dropped.Load())

			fill(c, "k", testRecord(now, nil)) // a read begun after it fills
			_, ok = c.get("k")
			assert.True(t, ok)
			assert.Empty(t, c.shard("k").flights, "finished reads leave no flight behind")
		})
	}
	t.Run("invalidation of another key", func(t *testing.T) {
		c := newCache(10, 1<<20)
		tok := c.begin("k")
		c.invalidate("other")
		c.finish(tok, "k", testRecord(now, nil))
		_, ok := c.get("k")
		assert.True(t, ok)
	})
}

// What get returns is the caller's: changing it changes neither the
// cache nor another reader's copy; what finish was given is copied too.
func TestCacheCopies(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	c := newCache(10, 1<<20)
	given := testRecord(now, map[string]string{"a": `[1,2]`, "b": `"x"`, "c": `{}`})
	fill(c, "k", given)
	given.Attrs["a"][1] = 'X'
	delete(given.Attrs, "b")

	got, ok := c.get("k")
	require.True(t, ok)
	other, _ := c.get("k")
	got.Attrs["a"][1] = 'Y'
	got.Attrs["b"] = append(got.Attrs["b"], "more"...)
	got.Attrs["new"] = json.RawMessage(`1`)
	got.Principal, got.Version = "q", 9

	for _, rec := range []*sessions.Record{other, must(c.get("k"))} {
		assert.Equal(t, map[string]json.RawMessage{"a": json.RawMessage(`[1,2]`), "b": json.RawMessage(`"x"`), "c": json.RawMessage(`{}`)}, rec.Attrs)
		assert.Equal(t, "p", rec.Principal)
		assert.EqualValues(t, 1, rec.Version)
	}
}

func must(rec *sessions.Record, ok bool) *sessions.Record {
	if !ok {
		panic("not cached")
	}
	return rec
}

func TestCacheSetIdleOnlyRaises(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	c := newCache(10, 1<<20)
	rec := testRecord(now, nil)
	fill(c, "k", rec)
	c.setIdle("k", rec.IdleExp.Add(time.Minute).UnixMilli())
	c.setIdle("k", rec.IdleExp.Add(-time.Minute).UnixMilli())
	c.setIdle("absent", 1)
	assert.True(t, must(c.get("k")).IdleExp.Equal(rec.IdleExp.Add(time.Minute)))
	_, ok := c.get("absent")
	assert.False(t, ok)
}

// decodeHash judges a hash read with HGETALL as load.lua does, by the
// clock reading it is given.
func TestDecodeHash(t *testing.T) {
	now := int64(1_700_000_000_000)
	ms := func(d time.Duration) string { return strconv.FormatInt(now+d.Milliseconds(), 10) }
	session := func(idle time.Duration, more ...string) map[string]string {
		m := map[string]string{"version": "3", "created": ms(-time.Hour), "idle_exp": ms(idle),
			"abs_exp": ms(time.Hour), "principal": "ann", "size": "8", "fmt": "2", "a:cart": "[1,2]"}
		for i := 0; i+1 < len(more); i += 2 {
			m[more[i]] = more[i+1]
		}
		return m
	}
	tests := []struct {
		name    string
		hash    map[string]string
		touched int64
		want    error  // nil: a record
		errText string // for other errors
	}{
		{"live", session(time.Minute), 0, nil, ""},
		{"absent", map[string]string{}, 0, sessions.ErrNotFound, ""},
		{"idle expired", session(0), 0, sessions.ErrNotFound, ""},
		{"idle expired but touched", session(0), now + 1, nil, ""},
		{"absolute expired", session(time.Minute, "abs_exp", ms(0)), now + time.Hour.Milliseconds(), sessions.ErrNotFound, ""},
		{"prepared by a regenerate", session(time.Minute, "pending", "nonce"), 0, sessions.ErrNotFound, ""},
		{"live tombstone", map[string]string{"tomb": ms(time.Millisecond), "fmt": "2"}, 0, sessions.ErrReplaced, ""},
		{"lapsed tombstone", map[string]string{"tomb": ms(0), "fmt": "2"}, 0, sessions.ErrNotFound, ""},
		{"newer format", session(time.Minute, "fmt", "3"), 0, nil, "newer format"},
		{"malformed", session(time.Minute, "version", "x"), 0, nil, "malformed session hash"},
		{"missing a meta field", map[string]string{"idle_exp": ms(time.Minute), "abs_exp": ms(time.Hour)}, 0, nil, "missing version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := decodeHash(tt.hash, now, tt.touched)
			switch {
			case tt.errText != "":
				assert.ErrorContains(t, err, tt.errText)
			case tt.want != nil:
				assert.ErrorIs(t, err, tt.want)
			default:
				require.NoError(t, err)
				assert.Equal(t, "ann", rec.Principal)
				assert.Equal(t, json.RawMessage(`[1,2]`), rec.Attrs["cart"])
				assert.Greater(t, rec.IdleExp.UnixMilli(), now)
			}
		})
	}
}
