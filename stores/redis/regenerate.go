package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Regenerate moves the live session under oldKey to newKey, applying d and
// bumping the Version, without ever touching both keys in one command
// (they may live on different cluster nodes), and such that a stall or a
// failure at any point leaves either the old session intact and at most a
// short-lived unreachable copy under newKey, or the new session complete:
//
//  1. seal.lua, on oldKey: reads the live session and seals it for this
//     call until the commit limit (see Deadlines in the package comment).
//     While sealed, Apply on oldKey waits, so no write can slip in between
//     this read and the commit and be lost from the copy. d is checked
//     against what was read (sessions.ErrConflict, ErrTooLarge) and
//     applied to a copy.
//  2. indexNew lists newKey under the copy's principal and handle and in
//     the registry; then
//     prepare.lua stores the copy under newKey, marked pending and with a
//     TTL that outlasts this call but not much more (sessions.ErrExists if
//     newKey holds a live record). Until step 3 commits, the copy is
//     garbage nobody can reach: newKey is known only to this call.
//  3. commit.lua, on oldKey alone: if the session is still sealed by this
//     call, still at the version the seal read, and the seal has not ended
//     by the server's clock, it deletes the old session, leaving a
//     tombstone of d.Tombstone if positive. A version that moved (a
//     format 1 build's Apply, which knows no seal, during an upgrade)
//     lifts the seal, and Regenerate starts over from step 1.
//     This is the commit: before it, nothing happened; after it, the copy
//     is the session. A seal that ended is lifted; a refusal discards the
//     copy, and an error before the commit lifts the seal.
//  4. finish.lua makes the copy permanent: clears pending and sets the TTL
//     to its expiry. It runs detached from ctx's cancellation and
//     deadline, each attempt bounded by the longer of
//     Options.RegenerateTimeout and the time left, and is retried once,
//     since giving up here would log the user out.
//
// Then forget drops the old key's index, registry and handle entries
// (see Delete). Round trips: 6 (plus one TIME now and then). If
// step 4 never succeeds (Redis unreachable from right after the commit
// until the copy's TTL runs out) the session is lost; like a reply lost
// after the commit, this is the one window where the caller sees an error
// although the old key is gone.
func (s *Store) Regenerate(ctx context.Context, oldKey, newKey string, d *sessions.Delta) (*sessions.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fail(ctx, "regenerating session", err)
	}
	s.evict(oldKey)
	defer s.evict(oldKey)
	defer s.evict(newKey)
	s.settleTouch(ctx, oldKey)
	nonce := newNonce()
	for {
		rec, err := s.regenerateOnce(ctx, oldKey, newKey, nonce, d)
		if errors.Is(err, errChanged) {
			continue // sealed again, it reads the write that got in
		}
		if err != nil {
			return nil, err
		}
		s.observe(rec)
		return rec, nil
	}
}

// errChanged: the commit found the old session written since the seal;
// Regenerate starts over from the seal.
var errChanged = errors.New("redis store: regenerating session: changed since sealed")

// regenerateOnce is one pass of Regenerate's steps under nonce.
func (s *Store) regenerateOnce(ctx context.Context, oldKey, newKey, nonce string, d *sessions.Delta) (*sessions.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fail(ctx, "regenerating session", err)
	}
	var old *sessions.Record
	for {
		reply, err := s.commitScriptSlice(ctx, s.scripts.seal, s.sessionKey(oldKey), false, func(limit int64) []any {
			return []any{s.now(), limit, nonce, s.sealTTL().Milliseconds()}
		})
		if err != nil {
			return nil, fail(ctx, "regenerating session: sealing old key", err)
		}
		if code, ok := reply.(int64); ok && code == codeSealed {
			if err := waitSeal(ctx); err != nil {
				return nil, fail(ctx, "regenerating session: waiting for another regenerate", err)
			}
			continue
		} else if ok {
			return nil, codeErr(code)
		}
		vals, ok := reply.([]any)
		if !ok {
			return nil, fail(ctx, "regenerating session", fmt.Errorf("unexpected script result %v", reply))
		}
		if old, err = decodeRecord(vals); err != nil {
			s.unseal(ctx, oldKey, nonce)
			return nil, fail(ctx, "regenerating session", err)
		}
		break
	}
	return s.moveSealed(ctx, old, oldKey, newKey, nonce, d)
}

// moveSealed is Regenerate from step 1's check of d on, old being the
// sealed session.
func (s *Store) moveSealed(ctx context.Context, old *sessions.Record, oldKey, newKey, nonce string, d *sessions.Delta) (*sessions.Record, error) {
	next, err := d.Regenerated(old)
	if err != nil {
		s.unseal(ctx, oldKey, nonce)
		return nil, err
	}
	now := s.now()
	if err := s.indexNew(ctx, now, newKey, next); err != nil {
		s.unseal(ctx, oldKey, nonce)
		return nil, fail(ctx, "regenerating session: indexing", err)
	}
	args := recordArgs(now, next, nonce, s.pendingTTL(ctx).Milliseconds())
	code, err := s.run(ctx, s.scripts.prepare, []string{s.sessionKey(newKey)}, args...).Int64()
	if err == nil && code != codeOK {
		err = codeErr(code)
	}
	if err != nil {
		s.unseal(ctx, oldKey, nonce)
		if errors.Is(err, sessions.ErrExists) {
			return nil, err
		}
		return nil, fail(ctx, "regenerating session: preparing new key", err)
	}

	var tomb int64
	if d.Tombstone > 0 {
		tomb = max(d.Tombstone.Milliseconds(), 1)
	}
	if s.beforeCommit != nil {
		s.beforeCommit(ctx)
	}
	code, err = s.run(ctx, s.scripts.commit, []string{s.sessionKey(oldKey)}, now, nonce, tomb, old.Version).Int64()
	if err != nil {
		// The copy expires by itself and the seal ends at the limit; if
		// the commit did land (a lost reply), neither may be undone.
		s.servers.settle(ctx, s.servers.nodeName(ctx, s.sessionKey(oldKey)), err)
		return nil, fail(ctx, "regenerating session: committing on the old key", err)
	}
	if code != codeOK {
		s.discard(ctx, newKey, nonce)
		switch code {
		case codeConflict:
			return nil, fmt.Errorf("redis store: regenerating session: the seal was lost: %w", sessions.ErrConflict)
		case codeChanged:
			return nil, errChanged
		}
		return nil, codeErr(code)
	}
	if err := s.finish(ctx, newKey, nonce); err != nil {
		return nil, err
	}
	s.forget(ctx, oldKey, old.Principal, old.Handle)
	return next, nil
}

// sealTTL is how long a seal lasts when the caller has no deadline: as
// long as Regenerate may take before its commit.
func (s *Store) sealTTL() time.Duration { return 2 * s.regenTimeout }

// unseal lifts this call's seal from the old key when Regenerate gives up
// before its commit. A courtesy, like discard: the seal ends by itself.
func (s *Store) unseal(ctx context.Context, key, nonce string) {
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.regenTimeout)
	defer cancel()
	_ = s.run(uctx, s.scripts.unseal, []string{s.sessionKey(key)}, nonce).Err()
}

// waitSeal waits a moment before a write retries on a sealed session; the
// seal ends within the sealing call's deadline.
func waitSeal(ctx context.Context) error {
	t := time.NewTimer(sealPoll)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// sealPoll is how long a write waits before it tries a sealed session
// again.
const sealPoll = 2 * time.Millisecond

// pendingTTL is how long a prepared copy lives unless finished: past the
// latest moment finish can still run (the deadline, then two attempts of
// RegenerateTimeout), plus a second.
func (s *Store) pendingTTL(ctx context.Context) time.Duration {
	left := time.Duration(0)
	if deadline, ok := ctx.Deadline(); ok {
		left = max(time.Until(deadline), 0)
	}
	return left + 2*max(s.regenTimeout, left) + time.Second
}

// finish runs finish.lua to keep the copy under key, detached from ctx
// and tried twice (see Regenerate, step 4).
func (s *Store) finish(ctx context.Context, key, nonce string) error {
	timeout := s.regenTimeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = max(timeout, time.Until(deadline))
	}
	detached := context.WithoutCancel(ctx)
	var errs []error
	for range 2 {
		actx, cancel := context.WithTimeout(detached, timeout)
		code, err := s.run(actx, s.scripts.finish, []string{s.sessionKey(key)}, s.now(), nonce, 1).Int64()
		cancel()
		switch {
		case err == nil && code == codeOK:
			return nil
		case err == nil && code == codeLost:
			return errors.New("redis store: regenerating session: the new key expired before it was made permanent (the session is lost)")
		case err == nil:
			return fmt.Errorf("redis store: regenerating session: making the new key permanent: unexpected code %d", code)
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("redis store: regenerating session: making the new key permanent (the session is lost): %w", errors.Join(errs...))
}

// discard deletes the copy under key that a refused commit left, if it is
// still this call's. It is a courtesy (the copy expires by itself), so it
// runs detached for at most RegenerateTimeout and its errors are dropped.
func (s *Store) discard(ctx context.Context, key, nonce string) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.regenTimeout)
	defer cancel()
	_ = s.run(dctx, s.scripts.finish, []string{s.sessionKey(key)}, s.now(), nonce, 0).Err()
}

// newNonce returns a random name for one Regenerate call's prepared copy.
func newNonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}
