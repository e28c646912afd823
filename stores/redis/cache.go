package redisstore

import (
	"bytes"
	"encoding/json"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Defaults of CacheOptions.
const (
	// DefaultCacheMaxEntries is CacheOptions.MaxEntries's default.
	DefaultCacheMaxEntries = 100_000
	// DefaultCacheMaxBytes is CacheOptions.MaxBytes's default: 64 MiB.
	DefaultCacheMaxBytes = 64 << 20
)

const (
	// cacheShards is how many independently locked parts a cache of at
	// least cacheShardMin entries is split into; a smaller one is one
	// part, so that its bound is exact.
	cacheShards   = 16
	cacheShardMin = 1024
	// entryOverhead is what an entry costs beyond its bytes: the entry,
	// its map slot, its list links and the attribute offsets' header.
	entryOverhead = 256
	// spanOverhead is what each attribute costs beyond its name and value.
	spanOverhead = 24
)

// cache holds decoded live sessions by key, bounded by entries and by an
// estimate of their bytes, evicting the least recently used. It knows
// nothing of Redis: the tracker invalidates keys, and flushes the whole
// cache when it cannot vouch for it any more.
//
// A read that misses takes a fillToken before it asks Redis and hands it
// back with what Redis answered: the answer is kept only if no
// invalidation of that key, and no flush, happened in between (the
// classic race of client-side caching: the reply can predate a write
// whose invalidation overtook it).
//
// Entries are immutable once stored except for their idle expiry, which a
// touch slides (setIdle); get copies an entry out, so a caller may change
// what it gets.
type cache struct {
	seed       maphash.Seed
	shards     []cacheShard
	maxEntries int // per shard
	maxBytes   int // per shard
	// epoch counts flushes; a fill whose token predates one is dropped.
	epoch atomic.Uint64
	stats cacheCounters
}

// cacheCounters are the cache's statistics (CacheStats).
type cacheCounters struct {
	hits, misses, bypassed, fills, dropped, evictions, invalidations, flushes atomic.Int64
	touches, touchFailures                                                    atomic.Int64
}

// cacheShard is one independently locked part of a cache.
type cacheShard struct {
	mu      sync.Mutex
	entries map[string]*entry
	flights map[string]*flight
	lru     entry // sentinel: lru.next is the most recent, lru.prev the least
	bytes   int
}

// entry is one cached session: the record without its attributes, whose
// values lie back to back in buf, named in order by spans.
type entry struct {
	key        string
	rec        sessions.Record // Attrs nil; IdleExp is idle
	idle       int64           // IdleExp in Unix ms; guarded by the shard's mu
	spans      []attrSpan
	buf        []byte
	size       int
	prev, next *entry
}

// attrSpan names one attribute; its value is buf[previous end:end].
type attrSpan struct {
	name string
	end  int
}

// flight is the state shared by the reads of one key under way.
type flight struct {
	refs   int
	invals uint64 // invalidations of the key since the flight began
}

// fillToken is what a read that missed holds until it fills the cache.
// The zero token fills nothing.
type fillToken struct {
	shard  *cacheShard
	f      *flight
	invals uint64
	epoch  uint64
}

// newCache returns an empty cache bounded by maxEntries and maxBytes.
func newCache(maxEntries, maxBytes int) *cache {
	n := 1
	if maxEntries >= cacheShardMin {
		n = cacheShards
	}
	c := &cache{
		seed:       maphash.MakeSeed(),
		shards:     make([]cacheShard, n),
		maxEntries: max(maxEntries/n, 1),
		maxBytes:   max(maxBytes/n, 1),
	}
	for i := range c.shards {
		c.shards[i].reset()
	}
	return c
}

// reset empties the shard; the caller holds its lock (or owns it).
func (sh *cacheShard) reset() {
	sh.entries = make(map[string]*entry)
	if sh.flights == nil {
		sh.flights = make(map[string]*flight)
	}
	sh.lru.next, sh.lru.prev = &sh.lru, &sh.lru
	sh.bytes = 0
}

// shard returns the shard of key.
func (c *cache) shard(key string) *cacheShard {
	if len(c.shards) == 1 {
		return &c.shards[0]
	}
	return &c.shards[maphash.String(c.seed, key)%uint64(len(c.shards))]
}

// get returns a copy of the record cached under key, marking it recently
// used.
func (c *cache) get(key string) (*sessions.Record, bool) {
	sh := c.shard(key)
	sh.mu.Lock()
	e := sh.entries[key]
	if e == nil {
		sh.mu.Unlock()
		return nil, false
	}
	sh.unlink(e)
	sh.pushFront(e)
	idle := e.idle
	sh.mu.Unlock()
	return e.record(idle), true
}

// setIdle raises the idle expiry of the entry under key, if any, to idle
// (Unix ms): a touch this process is writing.
func (c *cache) setIdle(key string, idle int64) {
	sh := c.shard(key)
	sh.mu.Lock()
	if e := sh.entries[key]; e != nil && idle > e.idle {
		e.idle = idle
	}
	sh.mu.Unlock()
}

// begin starts a read of key that may fill the cache.
func (c *cache) begin(key string) fillToken {
	sh := c.shard(key)
	sh.mu.Lock()
	f := sh.flights[key]
	if f == nil {
		f = &flight{}
		sh.flights[key] = f
	}
	f.refs++
	tok := fillToken{shard: sh, f: f, invals: f.invals, epoch: c.epoch.Load()}
	sh.mu.Unlock()
	return tok
}

// finish ends the read of key that tok began, storing a copy of rec
// unless rec is nil or the key was invalidated, or the cache flushed,
// since begin.
func (c *cache) finish(tok fillToken, key string, rec *sessions.Record) {
	if tok.f == nil {
		return
	}
	var e *entry
	if rec != nil {
		e = newEntry(key, rec) // outside the lock
	}
	sh := tok.shard
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if tok.f.refs--; tok.f.refs == 0 {
		delete(sh.flights, key)
	}
	if e == nil {
		return
	}
	if tok.f.invals != tok.invals || c.epoch.Load() != tok.epoch {
		c.stats.dropped.Add(1)
		return
	}
	if e.size > c.maxBytes {
		return
	}
	if old := sh.entries[key]; old != nil {
		sh.remove(old)
	}
	sh.entries[key] = e
	sh.pushFront(e)
	sh.bytes += e.size
	c.stats.fills.Add(1)
	for len(sh.entries) > c.maxEntries || sh.bytes > c.maxBytes {
		sh.remove(sh.lru.prev)
		c.stats.evictions.Add(1)
	}
}

// invalidate drops key, and spoils the fills of the reads of it under way.
func (c *cache) invalidate(key string) {
	sh := c.shard(key)
	sh.mu.Lock()
	if e := sh.entries[key]; e != nil {
		sh.remove(e)
	}
	if f := sh.flights[key]; f != nil {
		f.invals++
	}
	sh.mu.Unlock()
	c.stats.invalidations.Add(1)
}

// flush drops every entry and spoils every fill under way.
func (c *cache) flush() {
	c.stats.flushes.Add(1) // first, so that no reader sees the entries gone and not counted
	c.epoch.Add(1)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.reset()
		sh.mu.Unlock()
	}
}

// len returns the number of entries and their estimated bytes.
func (c *cache) len() (n, size int) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		n += len(sh.entries)
		size += sh.bytes
		sh.mu.Unlock()
	}
	return n, size
}

// remove unlinks e and forgets it; the caller holds the lock.
func (sh *cacheShard) remove(e *entry) {
	sh.unlink(e)
	delete(sh.entries, e.key)
	sh.bytes -= e.size
}

func (sh *cacheShard) unlink(e *entry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (sh *cacheShard) pushFront(e *entry) {
	e.prev, e.next = &sh.lru, sh.lru.next
	sh.lru.next.prev = e
	sh.lru.next = e
}

// newEntry copies rec into an entry for key.
func newEntry(key string, rec *sessions.Record) *entry {
	e := &entry{key: key, rec: *rec, idle: rec.IdleExp.UnixMilli()}
	e.rec.Attrs = nil
	n := 0
	for name, v := range rec.Attrs {
		n += len(v)
		e.size += len(name) + spanOverhead
	}
	e.spans = make([]attrSpan, 0, len(rec.Attrs))
	e.buf = make([]byte, 0, n)
	for name, v := range rec.Attrs {
		e.buf = append(e.buf, v...)
		e.spans = append(e.spans, attrSpan{name: name, end: len(e.buf)})
	}
	e.size += entryOverhead + 2*len(key) + n + len(rec.Principal) + len(rec.Handle) +
		len(rec.ClientIP) + len(rec.UserAgent)
	return e
}

// record returns a copy of the entry's record with idle as its idle
// expiry: the values in one fresh buffer, each capped so that appending
// to one cannot overwrite the next.
func (e *entry) record(idle int64) *sessions.Record {
	rec := e.rec
	rec.IdleExp = time.UnixMilli(idle)
	buf := bytes.Clone(e.buf)
	rec.Attrs = make(map[string]json.RawMessage, len(e.spans))
	start := 0
	for _, sp := range e.spans {
		rec.Attrs[sp.name] = json.RawMessage(buf[start:sp.end:sp.end])
		start = sp.end
	}
	return &rec
}
