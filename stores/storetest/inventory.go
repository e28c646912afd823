package storetest

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

// IndexReader is implemented by stores that can tell how many entries a
// principal's index holds, stale ones included (an entry whose session is
// gone, or has another principal, and which the store has not pruned).
// Run checks with it that Delete and Regenerate remove the entries of the
// keys they retire, and that no entry Create wrote outlives its
// session's absolute expiry once ByPrincipal has read the index. (An
// entry a principal change writes may be kept longer: see the Redis
// store.) A store that does not implement it skips those checks.
type IndexReader interface {
	PrincipalIndexLen(ctx context.Context, principal string) (int, error)
}

// testClient checks that the client fields are kept as given, whatever
// their content within the bounds the Manager applies, and carried over
// by Apply and Regenerate.
func (s *suite) testClient(t *testing.T) {
	t.Run("AtTheBounds", func(t *testing.T) {
		e := s.env(t)
		rec := e.record(randomPrincipal())
		rec.ClientIP = strings.Repeat("0000:", 6) + "255.255.255.255"
		require.Len(t, rec.ClientIP, sessions.MaxClientIPBytes)
		rec.UserAgent = strings.Repeat("日", sessions.MaxUserAgentBytes/3) + "a"
		require.Len(t, rec.UserAgent, sessions.MaxUserAgentBytes)
		key := e.create(rec)
		assertRecord(t, rec, e.load(key))
	})

	t.Run("EmptyStaysEmpty", func(t *testing.T) {
		e := s.env(t)
		rec := e.record(randomPrincipal())
		rec.Handle, rec.ClientIP, rec.UserAgent = "", "", ""
		key := e.create(rec)
		assertRecord(t, rec, e.load(key))
	})

	t.Run("CarriedOver", func(t *testing.T) {
		e := s.env(t)
		key, rec := e.session()
		d := &sessions.Delta{Set: map[string]json.RawMessage{"a": raw(`1`)}, IdleExp: e.clock.Now().Add(idleTimeout)}
		e.apply(key, d)
		rec = expect(rec, d)
		assertRecord(t, rec, e.load(key))

		newKey := randomKey()
		moved := &sessions.Delta{Handle: randomHandle(), Principal: ptr(randomPrincipal())}
		got, err := e.store.Regenerate(e.ctx, key, newKey, moved)
		require.NoError(t, err)
		want := expectMoved(rec, moved)
		assert.Equal(t, rec.ClientIP, want.ClientIP)
		assertRecord(t, want, got)
		assertRecord(t, want, e.load(newKey))
	})
}

// inventory returns the store as a sessions.Inventory, skipping t when it
// is not one.
func (e *env) inventory() sessions.Inventory {
	e.t.Helper()
	inv, ok := e.store.(sessions.Inventory)
	if !ok {
		e.t.Skip("the store does not implement sessions.Inventory")
	}
	return inv
}

// assertHandle checks that ByHandle(h) finds key ("" for none).
func (e *env) assertHandle(h, key string) {
	e.t.Helper()
	got, err := e.inventory().ByHandle(e.ctx, h)
	if key == "" {
		assert.ErrorIs(e.t, err, sessions.ErrNotFound, "ByHandle(%q) of no live session", h)
		return
	}
	require.NoError(e.t, err, "ByHandle(%q)", h)
	assert.Equal(e.t, key, got, "ByHandle(%q)", h)
}

func (s *suite) testHandle(t *testing.T) {
	t.Run("FindsLiveRecords", func(t *testing.T) {
		e := s.env(t)
		k1, r1 := e.session()
		k2, r2 := e.session()
		e.assertHandle(r1.Handle, k1)
		e.assertHandle(r2.Handle, k2)
		e.apply(k1, &sessions.Delta{Set: map[string]json.RawMessage{"a": raw(`1`)}, Principal: ptr(randomPrincipal())})
		e.assertHandle(r1.Handle, k1)
	})

	t.Run("UnknownOrEmptyIsNotFound", func(t *testing.T) {
		e := s.env(t)
		rec := e.record("")
		rec.Handle = ""
		e.create(rec)
		e.assertHandle(randomHandle(), "")
		e.assertHandle("", "")
	})

	t.Run("DeletedIsNotFound", func(t *testing.T) {
		e := s.env(t)
		key, rec := e.session()
		require.NoError(t, e.store.Delete(e.ctx, key))
		e.assertHandle(rec.Handle, "")
	})

	t.Run("ExpiredIsNotFound", func(t *testing.T) {
		e := s.env(t)
		key, rec := e.session()
		e.advanceTo(rec.IdleExp.Add(-time.Millisecond))
		e.assertHandle(rec.Handle, key)
		e.clock.Advance(time.Millisecond)
		e.assertHandle(rec.Handle, "")
	})

	t.Run("RegenerateMovesIt", func(t *testing.T) {
		for _, tomb := range []time.Duration{0, time.Minute} {
			e := s.env(t)
			oldKey, rec := e.session()
			newKey, h := randomKey(), randomHandle()
			_, err := e.store.Regenerate(e.ctx, oldKey, newKey, &sessions.Delta{Handle: h, Tombstone: tomb})
			require.NoError(t, err)
			e.assertHandle(rec.Handle, "")
			e.assertHandle(h, newKey)
		}
	})
}

// assertCount checks that the store counts want live sessions.
func (e *env) assertCount(want int64, what string) {
	e.t.Helper()
	c, err := e.inventory().Count(e.ctx)
	require.NoError(e.t, err, "Count")
	assert.Equal(e.t, want, c.Live, "Count: %s (approximate: %t)", what, c.Approximate)
}

// testCount checks the count where even an estimate must be right: an
// estimate may err only on sessions within a minute of their expiry.
// Count sees the whole store, so these subtests need stores built by
// successive calls not to share sessions (see the package comment).
func (s *suite) testCount(t *testing.T) {
	t.Run("CreateDeleteRegenerate", func(t *testing.T) {
		e := s.env(t)
		e.assertCount(0, "a new store")
		k1, _ := e.session()
		e.session()
		anon := e.record("")
		e.create(anon)
		e.assertCount(3, "three created")
		require.NoError(t, e.store.Delete(e.ctx, k1))
		e.assertCount(2, "one deleted")
		_, err := e.store.Regenerate(e.ctx, e.create(e.record("")), randomKey(), &sessions.Delta{Handle: randomHandle(), Tombstone: time.Minute})
		require.NoError(t, err)
		e.assertCount(3, "one created and regenerated (a tombstone is no session)")
	})

	t.Run("SlidSessionsStayCounted", func(t *testing.T) {
		e := s.env(t)
		touched, rec := e.session()
		written, _ := e.session()
		e.session() // left to expire
		e.clock.Advance(20 * time.Minute)
		idle := e.clock.Now().Add(idleTimeout)
		_, err := e.store.Load(e.ctx, touched, &sessions.Touch{Before: idle, IdleExp: idle})
		require.NoError(t, err)
		e.apply(written, &sessions.Delta{IdleExp: idle})
		e.advanceTo(rec.IdleExp)
		e.assertCount(2, "one expired, one touched and one written past its first idle expiry")
		e.advanceTo(idle)
		e.assertCount(0, "all expired")
	})
}

// indexLen returns how many entries p's index holds, skipping t when the
// store is no IndexReader.
func (e *env) indexLen(p string) int {
	e.t.Helper()
	r, ok := e.store.(IndexReader)
	if !ok {
		e.t.Skip("the store does not implement storetest.IndexReader")
	}
	n, err := r.PrincipalIndexLen(e.ctx, p)
	require.NoError(e.t, err, "PrincipalIndexLen")
	return n
}

func (s *suite) testIndex(t *testing.T) {
	t.Run("DeleteRemovesEntry", func(t *testing.T) {
		e := s.env(t)
		rec := e.record(randomPrincipal())
		k1 := e.create(rec)
		e.create(rec)
		require.Equal(t, 2, e.indexLen(rec.Principal))
		require.NoError(t, e.store.Delete(e.ctx, k1))
		assert.Equal(t, 1, e.indexLen(rec.Principal), "entries after one of two sessions was deleted")
	})

	t.Run("RegenerateRemovesOldEntry", func(t *testing.T) {
		for _, tomb := range []time.Duration{0, time.Minute} {
			e := s.env(t)
			key, rec := e.session()
			_, err := e.store.Regenerate(e.ctx, key, randomKey(), &sessions.Delta{Tombstone: tomb})
			require.NoError(t, err)
			assert.Equal(t, 1, e.indexLen(rec.Principal), "entries after a regenerate (tombstone %v)", tomb)

			q := randomPrincipal()
			key, rec = e.session()
			_, err = e.store.Regenerate(e.ctx, key, randomKey(), &sessions.Delta{Principal: &q, Tombstone: tomb})
			require.NoError(t, err)
			assert.Zero(t, e.indexLen(rec.Principal), "the old principal's entries after a regenerate moved the session to another")
			assert.Equal(t, 1, e.indexLen(q), "the new principal's entries")
		}
	})

	t.Run("NothingAfterAbsoluteExpiry", func(t *testing.T) {
		e := s.env(t)
		rec := e.record(randomPrincipal())
		e.create(rec)
		e.create(rec)
		e.advanceTo(rec.AbsExp)
		e.assertListed(rec.Principal)
		assert.Zero(t, e.indexLen(rec.Principal), "entries once every session passed its absolute expiry")
	})
}
