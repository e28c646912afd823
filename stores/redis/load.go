package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Load returns the live session under key, or sessions.ErrNotFound
// (sessions.ErrReplaced on a live tombstone). With a
// non-nil touch it slides the idle expiry as sessions.Touch describes.
//
// Without the cache, one round trip: a single script reads the hash,
// checks expiry against the store clock (deleting an expired record),
// applies the touch (the idle field and the key's TTL) and returns the
// fields. A touch that moved the expiry far past the session's
// registration adds a second round trip to register it again (see
// Count), about once a minute per active session.
//
// With the cache (Options.Cache, after Start), a hit is no round trip
// and anything else one HGETALL, judged here by the store clock; a touch
// that is due is written after the read (see toucher), and the record
// returned already shows it.
func (s *Store) Load(ctx context.Context, key string, touch *sessions.Touch) (*sessions.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fail(ctx, "loading session", err)
	}
	if s.started.Load() {
		return s.loadCached(ctx, key, touch)
	}
	now := s.now()
	args := []any{now, 0, 0, 0}
	if touch != nil {
		args[1], args[2], args[3] = 1, touch.Before.UnixMilli(), touch.IdleExp.UnixMilli()
	}
	reply, err := s.run(ctx, s.scripts.load, []string{s.sessionKey(key)}, args...).Result()
	if errors.Is(err, redis.Nil) {
		return nil, sessions.ErrNotFound
	}
	if err != nil {
		return nil, fail(ctx, "loading session", err)
	}
	if code, ok := reply.(int64); ok {
		return nil, codeErr(code)
	}
	vals, ok := reply.([]any)
	if !ok {
		return nil, fail(ctx, "loading session", fmt.Errorf("unexpected script result %v", reply))
	}
	rec, err := decodeRecord(vals)
	if err != nil {
		return nil, fail(ctx, "loading session", err)
	}
	s.observe(rec)
	if score := registerScore(vals); score > 0 {
		s.register(ctx, now, key, score)
	}
	return rec, nil
}

// registerScore is the score load.lua asks the session to be registered
// under, after the '!register' field it appends when a touch moved the
// expiry far enough; 0 when it did not.
func registerScore(vals []any) int64 {
	if n := len(vals); n >= 2 && vals[n-2] == "!register" {
		if v, ok := vals[n-1].(string); ok {
			score, _ := strconv.ParseInt(v, 10, 64)
			return score
		}
	}
	return 0
}

// decodeRecord builds a Record from a session hash given as a flat
// field/value array (HGETALL). Fields it does not know (reg, and the
// seal's) are ignored, as
// every build has done, so that a newer format may add some; a fmt field
// naming a format newer than this build's is refused (errUnsupported).
func decodeRecord(vals []any) (*sessions.Record, error) {
	d := recordDecoder{rec: &sessions.Record{Attrs: make(map[string]json.RawMessage, max(len(vals)/2-metaFields, 0))}}
	for i := 0; i+1 < len(vals); i += 2 {
		field, ok1 := vals[i].(string)
		value, ok2 := vals[i+1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("malformed session hash: pair %d is %T/%T, not strings", i/2, vals[i], vals[i+1])
		}
		if err := d.field(field, value); err != nil {
			return nil, err
		}
	}
	return d.record()
}

// recordDecoder builds a Record from a session hash's fields, one at a
// time, in any order.
type recordDecoder struct {
	rec  *sessions.Record
	seen int // of version, created, idle_exp and abs_exp
	// What the scripts check before reading a record (see decodeHash).
	tomb, pending, unsupported bool
	tombUntil                  int64
}

// field decodes one field of the hash.
func (d *recordDecoder) field(field, value string) error {
	if name, ok := strings.CutPrefix(field, attrPrefix); ok {
		d.rec.Attrs[name] = json.RawMessage(value)
		return nil
	}
	var err error
	switch field {
	case "principal":
		d.rec.Principal = value
	case "handle":
		d.rec.Handle = value
	case "ip":
		d.rec.ClientIP = value
	case "ua":
		d.rec.UserAgent = value
	case "version":
		d.rec.Version, err = strconv.ParseInt(value, 10, 64)
		d.seen++
	case "created":
		d.rec.Created, err = parseMilli(value)
		d.seen++
	case "idle_exp":
		d.rec.IdleExp, err = parseMilli(value)
		d.seen++
	case "abs_exp":
		d.rec.AbsExp, err = parseMilli(value)
		d.seen++
	case "fmt":
		if f, perr := strconv.Atoi(value); perr != nil || f > format {
			d.unsupported = true
			return fmt.Errorf("%w: fmt %q", errUnsupported, value)
		}
	case "tomb":
		d.tomb = true
		d.tombUntil, _ = strconv.ParseInt(value, 10, 64)
	case "pending":
		d.pending = true
	}
	if err != nil {
		return fmt.Errorf("malformed session hash: field %s: %w", field, err)
	}
	return nil
}

// record returns the record decoded, or an error when a meta field is
// missing.
func (d *recordDecoder) record() (*sessions.Record, error) {
	if d.seen != 4 {
		return nil, errors.New("malformed session hash: missing version, created, idle_exp or abs_exp")
	}
	return d.rec, nil
}

// parseMilli parses Unix milliseconds.
func parseMilli(v string) (time.Time, error) {
	ms, err := strconv.ParseInt(v, 10, 64)
	return time.UnixMilli(ms), err
}
