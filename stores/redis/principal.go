package redisstore

import (
	"context"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/sessions"
)

// indexCall is the index.lua call that lists key under principal p with
// the given score: a time (ms) at or after which the session is dead.
func (s *Store) indexCall(now int64, p, key string, score int64) scriptCall {
	return scriptCall{s.scripts.index, []string{s.indexKey(p)}, []any{now, score, key}}
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
// out. The empty principal is never indexed, so it lists nothing.
func (s *Store) ByPrincipal(ctx context.Context, p string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fail(ctx, "listing sessions by principal", err)
	}
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
		metas[i] = pipe.HMGet(ctx, s.sessionKey(key), "principal", "idle_exp", "abs_exp")
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fail(ctx, "listing sessions by principal: reading sessions", err)
	}
	var live []string
	for i, key := range keys {
		if vals := metas[i].Val(); len(vals) == 3 && vals[0] == p &&
			after(vals[1], now) && after(vals[2], now) {
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
