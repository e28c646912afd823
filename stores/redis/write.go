package redisstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Create stores rec under key, indexing its principal, in one round trip
// (one script, pipelined with the index update when rec has a principal).
// It returns sessions.ErrExists if key holds a live record; an expired one
// is replaced.
func (s *Store) Create(ctx context.Context, key string, rec *sessions.Record) error {
	if err := ctx.Err(); err != nil {
		return fail(ctx, "creating session", err)
	}
	now := s.now()
	code, err := s.create(ctx, now, key, rec)
	if err != nil {
		return fail(ctx, "creating session", err)
	}
	if code == codeExists {
		return sessions.ErrExists
	}
	s.observe(rec)
	return nil
}

// create runs create.lua for rec under key, pipelined with the principal
// index update if rec has a principal, and returns the script's code.
func (s *Store) create(ctx context.Context, now int64, key string, rec *sessions.Record) (int64, error) {
	args := make([]any, 0, 7+2*len(rec.Attrs))
	args = append(args, now, rec.Version, rec.Created.UnixMilli(), rec.IdleExp.UnixMilli(),
		rec.AbsExp.UnixMilli(), rec.Principal, rec.Size())
	for name, v := range rec.Attrs {
		args = append(args, name, []byte(v))
	}
	call := scriptCall{s.scripts.create, []string{s.sessionKey(key)}, args}
	var cmd *redis.Cmd
	if rec.Principal == "" {
		cmd = call.script.Run(ctx, s.client, call.keys, call.args...)
	} else {
		cmds := runPipelined(ctx, s.client, call,
			s.indexCall(now, rec.Principal, key, rec.AbsExp.UnixMilli()))
		if err := cmds[1].Err(); err != nil {
			return 0, fmt.Errorf("indexing principal: %w", err)
		}
		cmd = cmds[0]
	}
	return cmd.Int64()
}

// Apply writes d to the live session under key and returns the new
// Version, or sessions.ErrNotFound, ErrConflict or ErrTooLarge having
// written nothing. One round trip: a single script checks liveness,
// BaseVersion and MaxBytes (in time proportional to the delta, from the
// running size field and HSTRLEN of the attributes it touches) before
// writing. When d sets a principal, the index update is pipelined with the
// script; should this store not know yet how long a session can live (it
// learns that from the records it loads and creates), or the session
// outlive that, a second round trip extends the index entry.
func (s *Store) Apply(ctx context.Context, key string, d *sessions.Delta) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fail(ctx, "applying delta", err)
	}
	now := s.now()
	call := scriptCall{s.scripts.apply, []string{s.sessionKey(key)}, deltaArgs(now, d)}
	principal := ""
	if d.Principal != nil {
		principal = *d.Principal
	}
	// provisional is the index score sent ahead of the script: a time by
	// which the session is surely dead if it lives no longer than any
	// session seen so far. 0: no index update was sent.
	var provisional int64
	var cmd *redis.Cmd
	if life := s.maxLife.Load(); principal != "" && life > 0 {
		provisional = now + life
		cmds := runPipelined(ctx, s.client, call, s.indexCall(now, principal, key, provisional))
		if err := cmds[1].Err(); err != nil {
			return 0, fail(ctx, "applying delta: indexing principal", err)
		}
		cmd = cmds[0]
	} else {
		cmd = call.script.Run(ctx, s.client, call.keys, call.args...)
	}
	res, err := cmd.Int64Slice()
	if err != nil {
		return 0, fail(ctx, "applying delta", err)
	}
	if err := codeErr(res[0]); err != nil {
		return 0, err
	}
	if len(res) != 4 {
		return 0, fail(ctx, "applying delta", fmt.Errorf("unexpected script result %v", res))
	}
	version, created, abs := res[1], res[2], res[3]
	s.observeMilli(created, abs)
	if principal != "" && abs > provisional {
		c := s.indexCall(now, principal, key, abs)
		if err := c.script.Run(ctx, s.client, c.keys, c.args...).Err(); err != nil {
			return 0, fail(ctx, "applying delta: indexing principal", err)
		}
	}
	return version, nil
}

// Regenerate moves the live session under oldKey to newKey, applying d and
// bumping the Version, in two round trips that never touch both keys in
// one command (they may live on different cluster nodes):
//
//  1. take.lua on oldKey checks d (liveness, BaseVersion, MaxBytes) and,
//     only if it passes, returns every field and deletes oldKey. A write to
//     oldKey that committed before is in what it returns; one after finds
//     oldKey gone (sessions.ErrNotFound).
//  2. create.lua on newKey stores the record with d applied, pipelined
//     with the principal index update.
//
// If step 1 refuses, nothing changed. If step 2 fails (Redis unreachable,
// the process dies between the steps, or newKey holds a live record,
// reported as sessions.ErrExists), the session is lost: the user is logged
// out, but no session is ever left reachable under both keys.
func (s *Store) Regenerate(ctx context.Context, oldKey, newKey string, d *sessions.Delta) (*sessions.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fail(ctx, "regenerating session", err)
	}
	now := s.now()
	res, err := s.scripts.take.Run(ctx, s.client, []string{s.sessionKey(oldKey)}, deltaArgs(now, d)...).Slice()
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

	code, err = s.create(ctx, now, newKey, rec)
	if err != nil {
		return nil, fail(ctx, "regenerating session: storing new key (the session is lost)", err)
	}
	if code == codeExists {
		return nil, fmt.Errorf("redis store: regenerating session: new key taken (the session is lost): %w", sessions.ErrExists)
	}
	s.observe(rec)
	return rec, nil
}

// deltaArgs encodes d as the ARGV of apply.lua and take.lua (see lib.lua).
// A name both set and deleted is sent as deleted only, and deleted names
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
	args := make([]any, 7, 7+2*len(d.Set)+len(deleted))
	args[0], args[1], args[2], args[3] = now, max(d.BaseVersion, 0), max(d.MaxBytes, 0), idle
	args[4], args[5] = setPrincipal, principal
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
