package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
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
	// RegenerateTimeout bounds the second step of Regenerate, storing the
	// session under the new key once the first step has taken (and so
	// deleted) the old one. That step does not stop when the caller's
	// context is cancelled or its deadline passes, since giving up there
	// would lose the session and log the user out. Each of its attempts
	// (at most two: a failure other than sessions.ErrExists is retried
	// once) gets the longer of RegenerateTimeout and the time then left
	// until the context's deadline, so a slow Redis still gets the time
	// the caller granted, and a caller out of time still gets
	// RegenerateTimeout. Zero or negative means DefaultRegenerateTimeout
	// (1s).
	RegenerateTimeout time.Duration
}

// Store is a sessions.Store on Redis: standalone, Sentinel (a failover
// client) or Cluster. It is safe for concurrent use and holds no
// connections of its own; closing the client is the caller's business.
type Store struct {
	client  redis.UniversalClient
	prefix  string
	clock   func() time.Time
	scripts scripts
	// regenTimeout is Options.RegenerateTimeout with its default applied.
	regenTimeout time.Duration
	// maxLife is the longest AbsExp-Created span, in ms, of any record
	// this store has seen: Apply uses it to bound, without reading the
	// session first, how long a principal index entry must last.
	maxLife atomic.Int64
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
	}
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

// Delete removes the session under key with DEL. Its principal index entry
// stays until it lapses or is pruned; ByPrincipal never lists it, as it
// checks every entry against its session.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fail(ctx, "deleting session", err)
	}
	if err := s.client.Del(ctx, s.sessionKey(key)).Err(); err != nil {
		return fail(ctx, "deleting session", err)
	}
	return nil
}
