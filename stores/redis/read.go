package redisstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/sessions"
)

// loadCached is Load on a store whose cache runs (Start with
// Options.Cache): a hit costs no round trip; a miss, a bypassed cache
// (not usable: see tracker) or a sessions.FreshRead is one HGETALL, with
// the checks load.lua makes done here. A touch found due is queued for
// the toucher (and shown at once); liveness is judged by the store
// clock on the cached expiry fields.
func (s *Store) loadCached(ctx context.Context, key string, touch *sessions.Touch) (*sessions.Record, error) {
	now := s.clock()
	usable := s.track.usable()
	switch {
	case !usable:
		s.cache.stats.bypassed.Add(1)
	case sessions.IsFreshRead(ctx):
		s.cache.stats.misses.Add(1)
	default:
		if rec, ok := s.cache.get(key); ok {
			if rec.Live(now) {
				s.cache.stats.hits.Add(1)
				return s.touched(ctx, key, rec, now, touch), nil
			}
			s.cache.invalidate(key) // Redis decides what it is now
		}
		s.cache.stats.misses.Add(1)
	}
	var tok fillToken
	if usable {
		tok = s.cache.begin(key)
	}
	// A touch this process has shown but not yet written counts, as if
	// it had been: checked before the read, since it is forgotten only
	// once written.
	idle, _ := s.touches.pending(key)
	rec, fills, err := s.readHash(ctx, key, now, idle)
	var fill *sessions.Record
	if err == nil && fills {
		fill = rec
	}
	s.cache.finish(tok, key, fill)
	if err != nil {
		return nil, err
	}
	s.observe(rec)
	return s.touched(ctx, key, rec, now, touch), nil
}

// touched applies touch to rec, read live at now: when it is due, it
// queues the touch, raises the cached copy's expiry and returns rec as
// touched; when the queue is full, it writes the touch itself.
func (s *Store) touched(ctx context.Context, key string, rec *sessions.Record, now time.Time, touch *sessions.Touch) *sessions.Record {
	if touch == nil || !rec.IdleExp.Before(touch.Before) {
		return rec
	}
	idle := touch.IdleExp.UnixMilli()
	if !s.touches.enqueue(key, now, touch) {
		err := s.touchNow(ctx, key, now.UnixMilli(), touch.Before.UnixMilli(), idle)
		if err != nil {
			return rec // the read stands; the next one tries again
		}
	}
	s.cache.setIdle(key, idle)
	rec.IdleExp = touch.IdleExp
	return rec
}

// readHash reads the session under key with HGETALL and judges it as
// load.lua does, at now, without writing: sessions.ErrNotFound for no
// live record (none, expired, a copy Regenerate has not finished),
// sessions.ErrReplaced for a live tombstone, errUnsupported for a newer
// format. A stored idle expiry before touched (Unix ms; 0 for none) is
// read as touched. fills reports whether the cache may keep what it read: on a
// cluster, only what a master with an invalidation channel answered.
func (s *Store) readHash(ctx context.Context, key string, now time.Time, touched int64) (rec *sessions.Record, fills bool, err error) {
	k := s.sessionKey(key)
	var m map[string]string
	fills = true
	if cc, ok := s.client.(*redis.ClusterClient); ok {
		// Ask the master the client routes the key to, and no other, so
		// that the answer is known to come from that master.
		fills = false
		if node, nerr := cc.MasterForKey(ctx, k); nerr == nil {
			if m, err = node.HGetAll(ctx, k).Result(); err == nil {
				fills = s.track.serves(node.Options().Addr)
			}
		}
		if m == nil {
			m, err = cc.HGetAll(ctx, k).Result() // following MOVED and ASK
		}
	} else {
		m, err = s.client.HGetAll(ctx, k).Result()
	}
	if err != nil {
		return nil, false, fail(ctx, "loading session", err)
	}
	rec, err = decodeHash(m, now.UnixMilli(), touched)
	if err != nil {
		return nil, false, err
	}
	return rec, fills, nil
}

// decodeHash judges and decodes a session hash read at now (Unix ms) as
// load.lua does, an idle expiry before touched (Unix ms) read as
// touched.
func decodeHash(m map[string]string, now, touched int64) (*sessions.Record, error) {
	if len(m) == 0 {
		return nil, sessions.ErrNotFound
	}
	d := recordDecoder{rec: &sessions.Record{Attrs: make(map[string]json.RawMessage, max(len(m)-metaFields, 0))}}
	var ferr error
	for f, v := range m {
		if err := d.field(f, v); err != nil && ferr == nil {
			ferr = err
		}
	}
	if d.seen == 4 && d.rec.IdleExp.UnixMilli() < touched {
		d.rec.IdleExp = time.UnixMilli(touched)
	}
	switch {
	case d.unsupported:
		return nil, errUnsupported
	case d.pending:
		return nil, sessions.ErrNotFound
	case ferr == nil && d.seen == 4 && d.rec.Live(time.UnixMilli(now)):
		return d.rec, nil
	case d.tomb && now < d.tombUntil:
		return nil, sessions.ErrReplaced
	case ferr != nil && live(m, now, touched):
		return nil, fail(context.Background(), "loading session", ferr)
	case ferr == nil && d.seen != 4 && live(m, now, touched):
		_, err := d.record()
		return nil, fail(context.Background(), "loading session", err)
	}
	return nil, sessions.ErrNotFound
}

// live reports whether a hash's idle_exp (or touched) and abs_exp are
// after now, as live in lib.lua.
func live(m map[string]string, now, touched int64) bool {
	return (touched > now || after(m["idle_exp"], now)) && after(m["abs_exp"], now)
}
