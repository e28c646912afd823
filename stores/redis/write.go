package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Create stores rec under key and indexes it: two round trips, the first
// listing key under its principal and handle and in the registry
// (indexNew), the second create.lua. The entries are written first and
// the record only once they are confirmed, so a failed index update fails
// Create having stored nothing. It returns sessions.ErrExists if key
// holds a live record; an expired one is replaced.
func (s *Store) Create(ctx context.Context, key string, rec *sessions.Record) error {
	if err := ctx.Err(); err != nil {
		return fail(ctx, "creating session", err)
	}
	defer s.evict(key)
	code, err := s.create(ctx, s.now(), key, rec)
	if err != nil {
		return fail(ctx, "creating session", err)
	}
	if err := codeErr(code); err != nil {
		return err
	}
	s.observe(rec)
	return nil
}

// create indexes rec (indexNew), then runs create.lua for rec under key,
// and returns the script's code. The record is not sent unless the index
// update succeeded. When the key turns out to be taken, the new entries
// stay behind, which is harmless (ByPrincipal and ByHandle check every
// entry against its session; the registry's lapses with the taken
// session's expiry at the latest).
func (s *Store) create(ctx context.Context, now int64, key string, rec *sessions.Record) (int64, error) {
	if err := s.indexNew(ctx, now, key, rec); err != nil {
		return 0, fmt.Errorf("indexing: %w", err)
	}
	return s.commitScript(ctx, s.scripts.create, s.sessionKey(key), func(limit int64) []any {
		return recordArgs(now, rec, limit)
	})
}

// recordArgs encodes rec as the ARGV of create.lua (extra being the
// commit limit) and prepare.lua (extra being the nonce, followed by the
// pending TTL, which the caller inserts): now, version, created, idle_exp,
// abs_exp, principal, size, handle, client ip, user agent, extra, then
// the attributes.
func recordArgs(now int64, rec *sessions.Record, extra ...any) []any {
	args := make([]any, 0, 10+len(extra)+2*len(rec.Attrs))
	args = append(args, now, rec.Version, rec.Created.UnixMilli(), rec.IdleExp.UnixMilli(),
		rec.AbsExp.UnixMilli(), rec.Principal, rec.Size(), rec.Handle, rec.ClientIP, rec.UserAgent)
	args = append(args, extra...)
	for name, v := range rec.Attrs {
		args = append(args, name, []byte(v))
	}
	return args
}

// Apply writes d to the live session under key and returns the new
// Version, or sessions.ErrNotFound, ErrConflict or ErrTooLarge having
// written nothing. One round trip, or two when d sets a (non-empty)
// principal:
//
//  1. index.lua lists key in the principal's index, scored with a bound
//     on the session's life taken from the longest one this store has
//     seen (it learns them from the records it loads and creates). Should
//     this fail, Apply fails having written nothing.
//  2. apply.lua checks liveness, BaseVersion and MaxBytes (in time
//     proportional to the delta, from the running size field and HSTRLEN
//     of the attributes it touches) and writes.
//
// The script writes a principal only if the session dies by the bound the
// index entry was given; otherwise it writes nothing and reports the
// session's AbsExp, and Apply indexes the session until then and sends the
// script again: two more round trips, when the session outlives every
// session this store has seen (or the store has seen none yet, when step 1
// is skipped). So whatever the outcome, a principal change that committed
// is listed in the index, and one that was not committed was reported as
// failed. A refused or failed write may leave an index entry behind, which
// is harmless: ByPrincipal checks every entry against its session. So
// does a principal change, under the principal it leaves: that entry
// lapses with its score.
//
// A write that moved the idle expiry far past the session's registration
// adds a round trip to register it again (see Count), about once a minute
// per active session.
func (s *Store) Apply(ctx context.Context, key string, d *sessions.Delta) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fail(ctx, "applying delta", err)
	}
	s.evict(key)
	defer s.evict(key) // also after: a read under way must not fill in what it read before
	s.settleTouch(ctx, key)
	now := s.now()
	principal := ""
	if d.Principal != nil {
		principal = *d.Principal
	}
	// bound is the time until which the principal's index lists key
	// (when it is after now), 0 when d indexes nothing.
	var bound int64
	if principal != "" {
		bound = now + s.maxLife.Load()
	}
	args := deltaArgs(now, d)
	reindexed := false
	for {
		if bound > now {
			if err := s.index(ctx, now, principal, key, bound); err != nil {
				return 0, fail(ctx, "applying delta: indexing principal", err)
			}
		}
		args[7] = bound
		reply, err := s.commitScriptSlice(ctx, s.scripts.apply, s.sessionKey(key), true, func(limit int64) []any {
			args[8] = limit
			return args
		})
		if err != nil {
			return 0, fail(ctx, "applying delta", err)
		}
		res, err := int64s(reply)
		if err != nil {
			return 0, fail(ctx, "applying delta", err)
		}
		if len(res) == 1 && res[0] == codeSealed {
			// A Regenerate is moving the session: wait until it has
			// committed (the key is then gone) or given up.
			if err := waitSeal(ctx); err != nil {
				return 0, fail(ctx, "applying delta: waiting for a regenerate", err)
			}
			continue
		}
		if len(res) == 3 && res[0] == codeReindex && !reindexed {
			created, abs := res[1], res[2]
			s.observeMilli(created, abs)
			bound, reindexed = abs, true
			continue
		}
		if len(res) == 5 && res[0] == codeOK {
			version, created, abs, reg := res[1], res[2], res[3], res[4]
			s.observeMilli(created, abs)
			if reg > 0 {
				s.register(ctx, now, key, reg)
			}
			return version, nil
		}
		if len(res) == 1 && res[0] != codeOK && res[0] != codeReindex && res[0] != codeSealed {
			return 0, codeErr(res[0])
		}
		// A second REINDEX means the session's AbsExp changed under us,
		// which only a Create replacing an expired record can do.
		return 0, fail(ctx, "applying delta", fmt.Errorf("unexpected script result %v", res))
	}
}

// deltaArgs encodes d as the ARGV of apply.lua (see lib.lua), with an
// index bound (ARGV[8], args[7]) and a commit limit (ARGV[9], args[8]) of
// 0 for the caller to set. A
// name both set and deleted is sent as deleted only, and deleted names
// once each, so the script's size arithmetic holds.
func deltaArgs(now int64, d *sessions.Delta) []any {
	var deleted map[string]bool
	if len(d.Delete) > 0 {
		deleted = make(map[string]bool, len(d.Delete))
		for _, name := range d.Delete {
			deleted[name] = true
		}
	}
	var idle int64
	if !d.IdleExp.IsZero() {
		idle = max(d.IdleExp.UnixMilli(), 1) // 0 would mean "unchanged"
	}
	setPrincipal, principal := 0, ""
	if d.Principal != nil {
		setPrincipal, principal = 1, *d.Principal
	}
	args := make([]any, 9, 9+2*len(d.Set)+len(deleted))
	args[0], args[1], args[2], args[3] = now, max(d.BaseVersion, 0), max(d.MaxBytes, 0), idle
	args[4], args[5], args[7], args[8] = setPrincipal, principal, int64(0), int64(0)
	n := 0
	for name, v := range d.Set {
		if !deleted[name] {
			args = append(args, name, []byte(v))
			n++
		}
	}
	args[6] = n
	for name := range deleted {
		args = append(args, name)
	}
	return args
}

// Errors of the scripts' refusals that are not sessions sentinels.
var (
	// errLate: the server's clock was past the commit limit when the
	// script ran, so it wrote nothing.
	errLate = fmt.Errorf("redis store: the write reached Redis past its deadline and was refused: %w", context.DeadlineExceeded)
	// errUnsupported: the record is in a format newer than this build
	// knows, written by a newer Sidecar; it was left alone.
	errUnsupported = errors.New("redis store: session record in a newer format than this build knows")
)

// int64s converts a script's array reply of integers.
func int64s(reply any) ([]int64, error) {
	vals, ok := reply.([]any)
	if !ok {
		return nil, fmt.Errorf("unexpected script result %v", reply)
	}
	out := make([]int64, len(vals))
	for i, v := range vals {
		n, ok := v.(int64)
		if !ok {
			return nil, fmt.Errorf("unexpected script result %v", reply)
		}
		out[i] = n
	}
	return out, nil
}

// codeErr maps a script's result code to the sessions error it stands for.
func codeErr(code int64) error {
	switch code {
	case codeOK:
		return nil
	case codeNotFound:
		return sessions.ErrNotFound
	case codeConflict:
		return sessions.ErrConflict
	case codeTooLarge:
		return sessions.ErrTooLarge
	case codeExists:
		return sessions.ErrExists
	case codeReplaced:
		return sessions.ErrReplaced
	case codeLate:
		return errLate
	case codeUnsupported:
		return errUnsupported
	}
	return fmt.Errorf("redis store: unknown script result code %d", code)
}
