package redisstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Create stores rec under key and indexes its principal: one round trip
// (create.lua), preceded by a second one (index.lua) when rec has a
// principal. The index entry is written first and the record only once it
// is confirmed, so a failed index update fails Create having stored
// nothing. It returns sessions.ErrExists if key holds a live record; an
// expired one is replaced.
func (s *Store) Create(ctx context.Context, key string, rec *sessions.Record) error {
	if err := ctx.Err(); err != nil {
		return fail(ctx, "creating session", err)
	}
	code, err := s.create(ctx, s.now(), key, rec)
	if err != nil {
		return fail(ctx, "creating session", err)
	}
	if code == codeExists {
		return sessions.ErrExists
	}
	s.observe(rec)
	return nil
}

// create indexes rec's principal, if any, then runs create.lua for rec
// under key, and returns the script's code. The record is not sent unless
// the index update succeeded. When the key turns out to be taken, the new
// index entry stays behind, which is harmless (ByPrincipal checks every
// entry against its session).
func (s *Store) create(ctx context.Context, now int64, key string, rec *sessions.Record) (int64, error) {
	if rec.Principal != "" {
		if err := s.index(ctx, now, rec.Principal, key, rec.AbsExp.UnixMilli()); err != nil {
			return 0, fmt.Errorf("indexing principal: %w", err)
		}
	}
	args := make([]any, 0, 7+2*len(rec.Attrs))
	args = append(args, now, rec.Version, rec.Created.UnixMilli(), rec.IdleExp.UnixMilli(),
		rec.AbsExp.UnixMilli(), rec.Principal, rec.Size())
	for name, v := range rec.Attrs {
		args = append(args, name, []byte(v))
	}
	return s.scripts.create.Run(ctx, s.client, []string{s.sessionKey(key)}, args...).Int64()
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
// is harmless: ByPrincipal checks every entry against its session.
func (s *Store) Apply(ctx context.Context, key string, d *sessions.Delta) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fail(ctx, "applying delta", err)
	}
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
	for reindexed := false; ; reindexed = true {
		if bound > now {
			if err := s.index(ctx, now, principal, key, bound); err != nil {
				return 0, fail(ctx, "applying delta: indexing principal", err)
			}
		}
		args[7] = bound
		res, err := s.scripts.apply.Run(ctx, s.client, []string{s.sessionKey(key)}, args...).Int64Slice()
		if err != nil {
			return 0, fail(ctx, "applying delta", err)
		}
		if len(res) == 3 && res[0] == codeReindex && !reindexed {
			created, abs := res[1], res[2]
			s.observeMilli(created, abs)
			bound = abs
			continue
		}
		if len(res) == 4 && res[0] == codeOK {
			version, created, abs := res[1], res[2], res[3]
			s.observeMilli(created, abs)
			return version, nil
		}
		if len(res) == 1 && res[0] != codeOK && res[0] != codeReindex {
			return 0, codeErr(res[0])
		}
		// A second REINDEX means the session's AbsExp changed under us,
		// which only a Create replacing an expired record can do.
		return 0, fail(ctx, "applying delta", fmt.Errorf("unexpected script result %v", res))
	}
}

// Regenerate moves the live session under oldKey to newKey, applying d and
// bumping the Version, in two steps that never touch both keys in one
// command (they may live on different cluster nodes):
//
//  1. take.lua on oldKey checks d (liveness, BaseVersion, MaxBytes) and,
//     only if it passes, returns every field and deletes oldKey. A write to
//     oldKey that committed before is in what it returns; one after finds
//     oldKey gone (sessions.ErrNotFound). One round trip, under ctx.
//  2. The record, with d applied, is stored under newKey as Create does:
//     create.lua, preceded by index.lua if the record has a principal.
//     One or two round trips.
//
// If step 1 refuses or fails, nothing changed. Once it has succeeded the
// old key is gone, so step 2 no longer heeds ctx's cancellation or
// deadline: giving up there would log the user out. It runs detached, each
// attempt bounded by the longer of Options.RegenerateTimeout and the time
// left until ctx's deadline, and a failed attempt is retried once (an
// attempt whose reply was lost after it stored the record is recognised:
// the retry finds newKey holding that very record). So Regenerate succeeds
// even when ctx expires between the steps. If step 2 still fails (Redis
// unreachable for both attempts, the index update failing, the process
// dying between the steps, or newKey holding a live record, reported as
// sessions.ErrExists), the session is lost: the user is logged out, but no
// session is ever left reachable under both keys, nor stored unindexed.
// The old key is never restored, as that could bring back a session that a
// concurrent Delete meant to end.
func (s *Store) Regenerate(ctx context.Context, oldKey, newKey string, d *sessions.Delta) (*sessions.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fail(ctx, "regenerating session", err)
	}
	res, err := s.scripts.take.Run(ctx, s.client, []string{s.sessionKey(oldKey)}, deltaArgs(s.now(), d)...).Slice()
	if err != nil {
		return nil, fail(ctx, "regenerating session: taking old key", err)
	}
	code, ok := res[0].(int64)
	if !ok {
		return nil, fail(ctx, "regenerating session", fmt.Errorf("unexpected script result %v", res))
	}
	if err := codeErr(code); err != nil {
		return nil, err
	}
	fields, ok := res[1].([]any)
	if len(res) != 2 || !ok {
		return nil, fail(ctx, "regenerating session", fmt.Errorf("unexpected script result %v", res))
	}
	rec, err := decodeRecord(fields)
	if err != nil {
		return nil, fail(ctx, "regenerating session", err)
	}
	for name, v := range d.Set {
		rec.Attrs[name] = slices.Clone(v)
	}
	for _, name := range d.Delete {
		delete(rec.Attrs, name)
	}
	if d.Principal != nil {
		rec.Principal = *d.Principal
	}
	if !d.IdleExp.IsZero() {
		rec.IdleExp = d.IdleExp
	}
	rec.Version++

	if err := s.put(ctx, newKey, rec); err != nil {
		return nil, err
	}
	s.observe(rec)
	return rec, nil
}

// put is Regenerate's second step: it stores rec under key, detached from
// ctx's cancellation, trying twice (see Regenerate).
func (s *Store) put(ctx context.Context, key string, rec *sessions.Record) error {
	timeout := s.regenTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = max(timeout, time.Until(deadline))
	}
	detached := context.WithoutCancel(ctx)
	err := s.putOnce(detached, timeout, key, rec, false)
	if err == nil || errors.Is(err, sessions.ErrExists) {
		return err
	}
	if retryErr := s.putOnce(detached, timeout, key, rec, true); retryErr != nil {
		return fmt.Errorf("%w (retried after: %w)", retryErr, err)
	}
	return nil
}

// putOnce is one attempt of put, bounded by timeout. On a retry, a taken
// key holding rec itself means the first attempt stored it and only its
// reply was lost.
func (s *Store) putOnce(parent context.Context, timeout time.Duration, key string, rec *sessions.Record, retry bool) error {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	code, err := s.create(ctx, s.now(), key, rec)
	if err != nil {
		return fail(ctx, "regenerating session: storing new key (the session is lost)", err)
	}
	if code != codeExists {
		return nil
	}
	if retry {
		got, err := s.Load(ctx, key, nil)
		switch {
		case err == nil && sameRecord(got, rec):
			return nil
		case err != nil && !errors.Is(err, sessions.ErrNotFound):
			return fmt.Errorf("redis store: regenerating session: new key taken, checking it (the session may be lost): %w", err)
		}
	}
	return fmt.Errorf("redis store: regenerating session: new key taken (the session is lost): %w", sessions.ErrExists)
}

// sameRecord reports whether a and b are the same record, attribute bytes
// and millisecond times included.
func sameRecord(a, b *sessions.Record) bool {
	return a.Principal == b.Principal && a.Version == b.Version &&
		a.Created.Equal(b.Created) && a.IdleExp.Equal(b.IdleExp) && a.AbsExp.Equal(b.AbsExp) &&
		maps.EqualFunc(a.Attrs, b.Attrs, func(x, y json.RawMessage) bool { return bytes.Equal(x, y) })
}

// deltaArgs encodes d as the ARGV of apply.lua and take.lua (see lib.lua),
// with an index bound (ARGV[8], args[7]) of 0 for the caller to set. A
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
	args := make([]any, 8, 8+2*len(d.Set)+len(deleted))
	args[0], args[1], args[2], args[3] = now, max(d.BaseVersion, 0), max(d.MaxBytes, 0), idle
	args[4], args[5], args[7] = setPrincipal, principal, int64(0)
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
	}
	return fmt.Errorf("redis store: unknown script result code %d", code)
}
