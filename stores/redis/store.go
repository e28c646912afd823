package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/sessions"
)

// DefaultPrefix is the key prefix used when Options.Prefix is empty.
const DefaultPrefix = "sidecar:"

// DefaultRegenerateTimeout is the Options.RegenerateTimeout used when it is
// zero.
const DefaultRegenerateTimeout = time.Second

const (
	// attrPrefix starts the hash field of every attribute.
	attrPrefix = "a:"
	// metaFields is the number of meta fields in a session hash.
	metaFields = 6
)

// Options configure a Store. The zero value is ready to use.
type Options struct {
	// Prefix starts every key the store writes: sessions live under
	// Prefix+"s:"+key and principal indexes under Prefix+"p:"+hex(SHA-256
	// of the principal). Empty means DefaultPrefix ("sidecar:"). Give each
	// Sidecar deployment sharing one Redis its own prefix.
	Prefix string
	// Clock is the store's clock: it decides liveness and the Redis TTLs
	// set from record expiries. Nil means time.Now.
	Clock func() time.Time
	// RegenerateTimeout bounds each of the (at most two) attempts of
	// Regenerate's last step, making the new key permanent once the commit
	// has taken the old one; that step does not stop when the caller's
	// context is cancelled or its deadline passes, since giving up there
	// would log the user out. Each attempt gets the longer of
	// RegenerateTimeout and the time left until the deadline. Twice it is
	// also how long a Regenerate without a deadline seals the old session.
	// Zero or negative means DefaultRegenerateTimeout (1s).
	RegenerateTimeout time.Duration
	// DeadlineMargin is how much earlier than the caller's deadline, beyond
	// the measured uncertainty of the clock offset, a write's script stops
	// committing by the server's clock (see the package comment, Deadlines).
	// Zero or negative means DefaultDeadlineMargin (5ms).
	DeadlineMargin time.Duration
	// ClockRefresh is how old a measurement of a server's clock offset may
	// get before the next write measures it again (one TIME round trip).
	// Zero or negative means DefaultClockRefresh (10s).
	ClockRefresh time.Duration
	// BeforeCommit, when set, is called by every write (Create, Apply,
	// Regenerate, Delete) with its context right before it sends the
	// script that commits it, on the writing goroutine. It exists for
	// fault injection in tests (freeze the server there, and the commit
	// reaches a stalled Redis); leave it nil otherwise.
	BeforeCommit func(ctx context.Context)
	// Cache keeps the sessions this process reads in memory, fresh through
	// Redis's invalidation messages; see CacheOptions. Off by default.
	Cache CacheOptions
}

// CacheOptions configure a Store's cache of decoded sessions (see the
// package comment, Caching). It runs once Start is called, until Close.
type CacheOptions struct {
	// Enabled turns the cache on. Default false.
	Enabled bool
	// MaxEntries bounds the sessions kept; the least recently read go
	// first. Zero or negative means DefaultCacheMaxEntries (100,000).
	MaxEntries int
	// MaxBytes bounds an estimate of the memory they take (their
	// attributes, fields and key, plus about 300 bytes each). Zero or
	// negative means DefaultCacheMaxBytes (64 MiB).
	MaxBytes int
	// Staleness bounds how long after another process's write (Apply,
	// Regenerate, Delete) to a session this process may still serve it
	// from the cache: the heartbeat of the invalidation channels is
	// sent every Staleness/4, and the cache is bypassed as soon as the
	// last one back was sent more than Staleness ago. Zero or negative
	// means DefaultCacheStaleness (50ms).
	Staleness time.Duration
	// TouchQueue bounds the idle touches waiting to be written after the
	// reads that found them due; a read that finds the queue full writes
	// its touch itself. Zero or negative means DefaultTouchQueue (4096).
	TouchQueue int
	// OnChange, when set, is told when the cache becomes usable (usable
	// true, err nil: every master's invalidation channel is up and
	// heartbeating) and when it stops being usable for a cause other
	// than a late heartbeat (a lost channel, a failover, a new cluster
	// topology, a set-up that fails: err says which), once per change
	// (the first failure to set up included), from the cache's goroutines.
	// It exists for logging; it must not block.
	OnChange func(usable bool, err error)
}

// withDefaults returns o with its defaults applied.
func (o CacheOptions) withDefaults() CacheOptions {
	if o.MaxEntries <= 0 {
		o.MaxEntries = DefaultCacheMaxEntries
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultCacheMaxBytes
	}
	if o.Staleness <= 0 {
		o.Staleness = DefaultCacheStaleness
	}
	if o.TouchQueue <= 0 {
		o.TouchQueue = DefaultTouchQueue
	}
	return o
}

// Store is a sessions.Store on Redis: standalone, Sentinel (a failover
// client) or Cluster. It is safe for concurrent use. Until Start it holds
// no connections and runs nothing of its own but, after a NOSCRIPT, a
// reload of its scripts (which Close ends); from Start until Close it
// loads its scripts and, with Options.Cache, runs its cache. Closing the
// client is the caller's business, after Close.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	clock   func() time.Time
	scripts scripts
	// regenTimeout is Options.RegenerateTimeout with its default applied.
	regenTimeout time.Duration
	// servers relates the servers' clocks to ours, for commit limits.
	servers      *serverClock
	beforeCommit func(ctx context.Context)
	// maxLife is the longest AbsExp-Created span, in ms, of any record
	// this store has seen: Apply uses it to bound, without reading the
	// session first, how long a principal index entry must last.
	maxLife atomic.Int64
	// reloading is set while the scripts are loaded again after a
	// NOSCRIPT (reloadScripts); reloads counts those goroutines, and
	// Close, which waits for them, ends endReloads' context and sets
	// noReloads so that none starts after it. reloadMu guards both bools.
	reloadMu   sync.Mutex
	reloading  bool
	noReloads  bool
	reloads    sync.WaitGroup
	reloadCtx  context.Context
	endReloads context.CancelFunc
	cacheOpts  CacheOptions
	// started is set by Start once the fields below are; they stay nil
	// without a cache.
	started   atomic.Bool
	startOnce sync.Once
	closeOnce sync.Once
	cache     *cache
	track     *tracker
	touches   *toucher
	loaded    chan struct{} // closed once Start's first LoadScripts succeeded
	stop      context.CancelFunc
	bg        sync.WaitGroup
}

var _ sessions.Store = (*Store)(nil)

// New returns a Store that keeps sessions through client. The client
// should have ContextTimeoutEnabled set: without it go-redis bounds socket
// reads by its ReadTimeout rather than by the request context, and a hung
// Redis holds each request for that long.
func New(client redis.UniversalClient, opts Options) *Store {
	s := &Store{
		client:       client,
		prefix:       opts.Prefix,
		clock:        opts.Clock,
		scripts:      newScripts(),
		regenTimeout: opts.RegenerateTimeout,
		beforeCommit: opts.BeforeCommit,
		cacheOpts:    opts.Cache,
		loaded:       make(chan struct{}),
	}
	s.reloadCtx, s.endReloads = context.WithCancel(context.Background())
	if opts.DeadlineMargin <= 0 {
		opts.DeadlineMargin = DefaultDeadlineMargin
	}
	if opts.ClockRefresh <= 0 {
		opts.ClockRefresh = DefaultClockRefresh
	}
	s.servers = newServerClock(client, opts.ClockRefresh, opts.DeadlineMargin)
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.regenTimeout <= 0 {
		s.regenTimeout = DefaultRegenerateTimeout
	}
	return s
}

// Prefix returns the prefix of every key the store writes (Options.Prefix,
// or DefaultPrefix).
func (s *Store) Prefix() string { return s.prefix }

// sessionKey is the Redis key of the session stored under key.
func (s *Store) sessionKey(key string) string { return s.prefix + "s:" + key }

// indexKey is the Redis key of principal p's index. Hashing p keeps any
// principal (an e-mail address, a name with spaces or braces) from
// shaping the key, including its cluster hash slot.
func (s *Store) indexKey(p string) string {
	sum := sha256.Sum256([]byte(p))
	return s.prefix + "p:" + hex.EncodeToString(sum[:])
}

// now returns the store clock's reading in Unix milliseconds.
func (s *Store) now() int64 { return s.clock().UnixMilli() }

// fail wraps err from doing op. When ctx is done, ctx.Err() is joined in,
// so callers can tell a blown deadline with errors.Is.
func fail(ctx context.Context, op string, err error) error {
	ctxErr := ctx.Err()
	if d, ok := ctx.Deadline(); ctxErr == nil && ok && !time.Now().Before(d) {
		// The socket's deadline (set from ctx's) fired before the
		// context's own timer marked it done: it is the same deadline.
		ctxErr = context.DeadlineExceeded
	}
	if ctxErr != nil && !errors.Is(err, ctxErr) {
		err = errors.Join(err, ctxErr)
	}
	return fmt.Errorf("redis store: %s: %w", op, err)
}

// Delete removes the session (or tombstone) under key: delete.lua, a DEL
// refused past the commit limit, which returns the session's principal
// and handle; then a second round trip drops its principal index entry,
// its registry entry and its handle (forget), a clean-up that is not
// undone by, nor reported as, a failure: an entry it leaves behind lists
// no session and lapses with its score.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fail(ctx, "deleting session", err)
	}
	s.evict(key)
	defer s.evict(key)
	now := s.now()
	reply, err := s.commitScriptSlice(ctx, s.scripts.del, s.sessionKey(key), true, func(limit int64) []any {
		return []any{limit, now}
	})
	if err != nil {
		return fail(ctx, "deleting session", err)
	}
	vals, ok := reply.([]any)
	if !ok || len(vals) == 0 {
		return fail(ctx, "deleting session", fmt.Errorf("unexpected script result %v", reply))
	}
	code, _ := vals[0].(int64)
	if code != codeOK {
		return codeErr(code)
	}
	if len(vals) == 3 {
		principal, _ := vals[1].(string)
		handle, _ := vals[2].(string)
		s.forget(ctx, key, principal, handle)
	}
	return nil
}

// commitScript runs sc, a script that commits a write on key and returns
// a result code, under ctx's deadline: it computes the commit limit, calls
// the BeforeCommit hook, sends the script with args(limit), and, when no
// reply came, waits out the deadline (serverClock.settle) before failing.
func (s *Store) commitScript(ctx context.Context, sc *redis.Script, key string, args func(limit int64) []any) (int64, error) {
	res, err := s.commitScriptSlice(ctx, sc, key, true, args)
	if err != nil {
		return 0, err
	}
	code, ok := res.(int64)
	if !ok {
		return 0, fmt.Errorf("unexpected script result %v", res)
	}
	return code, nil
}

// commitScriptSlice is commitScript for a script with any reply; hook
// says whether it is the commit (the BeforeCommit hook runs) or an earlier
// deadline-bound step.
func (s *Store) commitScriptSlice(ctx context.Context, sc *redis.Script, key string, hook bool, args func(limit int64) []any) (any, error) {
	node, limit, err := s.servers.limit(ctx, key)
	if err != nil {
		return nil, err
	}
	if hook && s.beforeCommit != nil {
		s.beforeCommit(ctx)
	}
	res, err := s.run(ctx, sc, []string{key}, args(limit)...).Result()
	if err != nil {
		s.servers.settle(ctx, node, err)
		return nil, err
	}
	return res, nil
}
