package redisstore

import (
	"context"
	"errors"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/sessions"
)

var _ sessions.Inventory = (*Store)(nil)

// registryShards is the number of sorted sets the live-session registry
// is spread over, so that on a cluster its writes do not all land on one
// node.
const registryShards = 16

// forgetTimeout bounds the clean-up after a Delete or a Regenerate has
// committed (see forget).
const forgetTimeout = time.Second

// handleKey is the Redis key mapping handle h to its session key.
func (s *Store) handleKey(h string) string { return s.prefix + "h:" + h }

// registryKey is the registry shard that counts the session under key.
func (s *Store) registryKey(key string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return s.prefix + "n:" + strconv.FormatUint(uint64(h.Sum32()%registryShards), 16)
}

// indexNew lists a record about to be written under key (by Create, or
// by Regenerate under its new key) everywhere it must be found: the
// principal's index (scored with its AbsExp), the registry (scored with
// its expiry) and the handle's key (living until its AbsExp), in one
// pipelined round trip. It is confirmed before the record is sent (see
// the package comment), so a committed session is always found by its
// principal and its handle and is counted; entries for a write that then
// fails are harmless (each is checked against its session, or lapses).
func (s *Store) indexNew(ctx context.Context, now int64, key string, rec *sessions.Record) error {
	abs := rec.AbsExp.UnixMilli()
	return s.pipelined(ctx, func(pipe redis.Pipeliner) {
		if rec.Principal != "" {
			s.scripts.index.EvalSha(ctx, pipe, []string{s.indexKey(rec.Principal)}, now, abs, key)
		}
		s.scripts.index.EvalSha(ctx, pipe, []string{s.registryKey(key)}, now, rec.Expiry().UnixMilli(), key)
		if rec.Handle != "" && abs > now {
			pipe.Set(ctx, s.handleKey(rec.Handle), key, time.Duration(abs-now)*time.Millisecond)
		}
	})
}

// register raises key's score in the registry to score, after a write or
// a touch moved its expiry (reregister in lib.lua). The script has
// already recorded score in the session, so this is a best effort: should
// it fail, the session stays registered under its old expiry until it is
// renewed again, and the count misses it meanwhile if it outlives that.
func (s *Store) register(ctx context.Context, now int64, key string, score int64) {
	_ = s.pipelined(ctx, func(pipe redis.Pipeliner) {
		s.scripts.index.EvalSha(ctx, pipe, []string{s.registryKey(key)}, now, score, key)
	})
}

// forget drops the entries of a session that Delete or Regenerate has
// just removed for good (a key never comes back): its principal index
// entry, its registry entry and its handle, in one pipelined round trip
// that runs even if ctx is done, for at most forgetTimeout. It is a
// clean-up after the commit, so it reports nothing: an entry it fails to
// drop lists no session (ByPrincipal and ByHandle check every entry
// against its session) and lapses with its score or TTL.
func (s *Store) forget(ctx context.Context, key, principal, handle string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), forgetTimeout)
	defer cancel()
	_ = s.pipelined(ctx, func(pipe redis.Pipeliner) {
		if principal != "" {
			pipe.ZRem(ctx, s.indexKey(principal), key)
		}
		pipe.ZRem(ctx, s.registryKey(key), key)
		if handle != "" {
			s.scripts.unhandle.EvalSha(ctx, pipe, []string{s.handleKey(handle)}, key)
		}
	})
}

// pipelined sends the commands fill queues in one round trip (on a
// cluster, one per node, in parallel). When a server does not have a
// script in its cache (NOSCRIPT: restarted, flushed, or a new node), it
// loads the scripts pipelines use and sends the commands once more.
func (s *Store) pipelined(ctx context.Context, fill func(redis.Pipeliner)) error {
	for retried := false; ; retried = true {
		pipe := s.client.Pipeline()
		fill(pipe)
		_, err := pipe.Exec(ctx)
		if err == nil || retried || !redis.HasErrorPrefix(err, "NOSCRIPT") {
			return err
		}
		for _, sc := range []*redis.Script{s.scripts.index, s.scripts.unhandle} {
			if err := sc.Load(ctx, s.client).Err(); err != nil {
				return err
			}
		}
		s.reloadScripts() // the others too, for their next calls
	}
}

// ByHandle returns the key of the live session whose handle is h, or
// sessions.ErrNotFound: two round trips, one reading the handle's key,
// one the session's principal fields (a handle's key outlives a deleted
// or regenerated session until its AbsExp unless Delete's clean-up
// dropped it, so the session is checked).
func (s *Store) ByHandle(ctx context.Context, h string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fail(ctx, "finding a session by handle", err)
	}
	s.settleTouches(ctx)
	if h == "" {
		return "", sessions.ErrNotFound
	}
	key, err := s.client.Get(ctx, s.handleKey(h)).Result()
	if errors.Is(err, redis.Nil) {
		return "", sessions.ErrNotFound
	}
	if err != nil {
		return "", fail(ctx, "finding a session by handle", err)
	}
	vals, err := s.client.HMGet(ctx, s.sessionKey(key), "handle", "idle_exp", "abs_exp", "pending").Result()
	if err != nil {
		return "", fail(ctx, "finding a session by handle: reading the session", err)
	}
	now := s.now()
	if len(vals) != 4 || vals[0] != h || !after(vals[1], now) || !after(vals[2], now) || vals[3] != nil {
		return "", sessions.ErrNotFound
	}
	return key, nil
}

// Count estimates the live sessions from the registry: the entries whose
// score is after the store clock's now, over every shard, in one
// pipelined round trip. Every session is registered before it is
// written, with its expiry, and unregistered when it is deleted or
// regenerated away; a session whose expiry moves is registered again once
// it has moved more than a minute (or an eighth of the time left, when
// shorter). So the count misses only live sessions within that margin of
// an expiry they have since pushed back, and sessions a build without
// the registry created and that no request of this build has touched;
// Count.Approximate is true.
func (s *Store) Count(ctx context.Context) (sessions.Count, error) {
	if err := ctx.Err(); err != nil {
		return sessions.Count{}, fail(ctx, "counting sessions", err)
	}
	s.settleTouches(ctx)
	from := "(" + strconv.FormatInt(s.now(), 10)
	pipe := s.client.Pipeline()
	cmds := make([]*redis.IntCmd, registryShards)
	for i := range cmds {
		cmds[i] = pipe.ZCount(ctx, s.prefix+"n:"+strconv.FormatUint(uint64(i), 16), from, "+inf")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return sessions.Count{}, fail(ctx, "counting sessions", err)
	}
	var n int64
	for _, c := range cmds {
		n += c.Val()
	}
	return sessions.Count{Live: n, Approximate: true}, nil
}
