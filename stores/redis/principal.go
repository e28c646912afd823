package redisstore

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/sessions"
)

// index runs index.lua, listing key under principal p with the given
// score: a time (ms) at or after which the session is dead. It is always a
// round trip of its own, confirmed before the session write it serves is
// sent: on a cluster the index and the session live on different nodes,
// and a write must never commit while its index update fails.
func (s *Store) index(ctx context.Context, now int64, p, key string, score int64) error {
	return s.run(ctx, s.scripts.index, []string{s.indexKey(p)}, now, score, key).Err()
}

// observe records rec's lifetime (AbsExp - Created) in maxLife.
func (s *Store) observe(rec *sessions.Record) {
	s.observeMilli(rec.Created.UnixMilli(), rec.AbsExp.UnixMilli())
}

// observeMilli raises maxLife to abs-created if that is longer.
func (s *Store) observeMilli(created, abs int64) {
	life := abs - created
	for {
		cur := s.maxLife.Load()
		if life <= cur || s.maxLife.CompareAndSwap(cur, life) {
			return
		}
	}
}

// ByPrincipal lists the keys of the live sessions whose principal is p, in
// two round trips: one reads p's index (dropping the entries whose
// session has certainly expired), one pipeline reads the principal and
// expiry of every listed session, on whatever nodes they live. Entries
// whose session is gone, expired or now has another principal are left
// out, and so are copies a Regenerate under way has prepared but not yet
// made permanent. The empty principal is never indexed, so it lists
// nothing.
func (s *Store) ByPrincipal(ctx context.Context, p string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fail(ctx, "listing sessions by principal", err)
	}
	s.settleTouches(ctx)
	if p == "" {
		return nil, nil
	}
	now := s.now()
	idx := s.indexKey(p)
	pipe := s.client.Pipeline()
	pipe.ZRemRangeByScore(ctx, idx, "-inf", strconv.FormatInt(now, 10))
	members := pipe.ZRangeByScore(ctx, idx, &redis.ZRangeBy{Min: "(" + strconv.FormatInt(now, 10), Max: "+inf"})
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fail(ctx, "listing sessions by principal: reading index", err)
	}
	keys := members.Val()
	if len(keys) == 0 {
		return nil, nil
	}

	pipe = s.client.Pipeline()
	metas := make([]*redis.SliceCmd, len(keys))
	for i, key := range keys {
		metas[i] = pipe.HMGet(ctx, s.sessionKey(key), "principal", "idle_exp", "abs_exp", "pending")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fail(ctx, "listing sessions by principal: reading sessions", err)
	}
	var live []string
	for i, key := range keys {
		if vals := metas[i].Val(); len(vals) == 4 && vals[0] == p &&
			after(vals[1], now) && after(vals[2], now) && vals[3] == nil {
			live = append(live, key)
		}
	}
	return live, nil
}

// after reports whether v, a hash value holding Unix ms, is after now.
func after(v any, now int64) bool {
	s, ok := v.(string)
	if !ok {
		return false
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	return err == nil && ms > now
}

// PrincipalIndexLen is the number of entries principal p's index holds
// that are not yet past their score (stale ones included): a diagnostic
// for tests, which check that the index does not outgrow the sessions it
// lists. One round trip (ZCOUNT).
func (s *Store) PrincipalIndexLen(ctx context.Context, p string) (int, error) {
	n, err := s.client.ZCount(ctx, s.indexKey(p), "("+strconv.FormatInt(s.now(), 10), "+inf").Result()
	if err != nil {
		return 0, fail(ctx, "counting the principal index", err)
	}
	return int(n), nil
}
