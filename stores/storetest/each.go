package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

// lister returns the store as a sessions.Lister, skipping t when it is
// not one.
func (e *env) lister() sessions.Lister {
	e.t.Helper()
	l, ok := e.store.(sessions.Lister)
	if !ok {
		e.t.Skip("the store does not implement sessions.Lister")
	}
	return l
}

// each returns what Each passes, by key, failing the test if a key is
// passed twice or with an error.
func (e *env) each() map[string]*sessions.Record {
	e.t.Helper()
	got := map[string]*sessions.Record{}
	err := e.lister().Each(e.ctx, func(key string, rec *sessions.Record, err error) error {
		require.NoError(e.t, err, "Each passed an error for %s", key)
		require.NotContains(e.t, got, key, "Each passed a key twice")
		require.NotNil(e.t, rec, "Each passed a nil record without an error")
		got[key] = rec
		return nil
	})
	require.NoError(e.t, err, "Each")
	return got
}

// testEach checks sessions.Lister, and that Create, given a record Each
// passed, stores it whole in another store (the copy `sidecar store
// migrate` makes): the Version, times, principal, handle and client as
// given, found by ByPrincipal and ByHandle.
func (s *suite) testEach(t *testing.T) {
	t.Run("ListsExactlyTheLiveRecords", func(t *testing.T) {
		e := s.env(t)
		want := map[string]*sessions.Record{}
		for range 3 {
			key, rec := e.session()
			want[key] = rec
		}
		anon := e.record("")
		want[e.create(anon)] = anon

		short := e.record(randomPrincipal())
		short.IdleExp = e.clock.Now().Add(time.Minute)
		e.create(short)
		deleted, _ := e.session()
		require.NoError(t, e.store.Delete(e.ctx, deleted))
		old, rec := e.session()
		d := &sessions.Delta{Set: map[string]json.RawMessage{"after": raw(`1`)}, Handle: randomHandle(), Tombstone: time.Hour}
		moved := randomKey()
		_, err := e.store.Regenerate(e.ctx, old, moved, d)
		require.NoError(t, err)
		want[moved] = expectMoved(rec, d)
		written, rec := e.session()
		d = &sessions.Delta{Set: map[string]json.RawMessage{"n": raw(`2`)}, Principal: ptr(randomPrincipal())}
		e.apply(written, d)
		want[written] = expect(rec, d)

		e.advanceTo(short.IdleExp)
		got := e.each()
		require.Len(t, got, len(want), "Each passes the live records only (not the expired, deleted or regenerated away one, nor the tombstone)")
		for key, rec := range want {
			assertRecord(t, rec, got[key])
		}
		for key, rec := range want {
			assertTime(t, "IdleExp after Each (it touches nothing)", rec.IdleExp, e.load(key).IdleExp)
		}
	})

	t.Run("EmptyStore", func(t *testing.T) {
		e := s.env(t)
		assert.Empty(t, e.each())
	})

	t.Run("ManyRecords", func(t *testing.T) {
		e := s.env(t)
		const n = 300 // past the bolt store's batch of 256
		rec := e.record(randomPrincipal())
		for range n {
			e.create(rec)
		}
		assert.Len(t, e.each(), n)
	})

	t.Run("StopsAtFnError", func(t *testing.T) {
		e := s.env(t)
		for range 3 {
			e.session()
		}
		stop := errors.New("stop here")
		calls := 0
		err := e.lister().Each(e.ctx, func(string, *sessions.Record, error) error {
			calls++
			return stop
		})
		assert.ErrorIs(t, err, stop)
		assert.Equal(t, 1, calls)
	})

	t.Run("FnMayUseTheStore", func(t *testing.T) {
		e := s.env(t)
		for range 3 {
			e.session()
		}
		n := 0
		err := e.lister().Each(e.ctx, func(key string, _ *sessions.Record, _ error) error {
			n++
			return e.store.Delete(e.ctx, key)
		})
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		assert.Empty(t, e.each())
	})

	t.Run("CancelledContext", func(t *testing.T) {
		e := s.env(t)
		e.session()
		ctx, cancel := context.WithCancel(e.ctx)
		cancel()
		err := e.lister().Each(ctx, func(string, *sessions.Record, error) error {
			t.Error("Each called fn with a cancelled context")
			return nil
		})
		assert.ErrorIs(t, err, context.Canceled)
	})

	t.Run("CreateCopiesWhatEachPasses", func(t *testing.T) {
		dst := s.env(t) // a second store, built first so its clock can catch up
		e := s.env(t)
		dst.advanceTo(e.clock.Now())
		want := map[string]*sessions.Record{}
		for range 2 {
			key, rec := e.session()
			want[key] = rec
		}
		key, rec := e.session()
		d := &sessions.Delta{Set: map[string]json.RawMessage{"x": raw(`[1, 2]`)}, IdleExp: e.clock.Now().Add(time.Hour)}
		e.apply(key, d)
		want[key] = expect(rec, d)
		anon := e.record("")
		anon.Handle, anon.ClientIP, anon.UserAgent = "", "", ""
		want[e.create(anon)] = anon

		for key, rec := range e.each() {
			require.NoError(t, dst.store.Create(dst.ctx, key, rec), "Create of a listed record")
		}
		for key, rec := range want {
			assertRecord(t, rec, dst.load(key))
			if rec.Principal != "" {
				dst.assertListed(rec.Principal, key)
			}
			if _, ok := dst.store.(sessions.Inventory); ok && rec.Handle != "" {
				dst.assertHandle(rec.Handle, key)
			}
			err := dst.store.Create(dst.ctx, key, cloneRecord(rec))
			assert.ErrorIs(t, err, sessions.ErrExists, "a second copy")
		}
		assert.Len(t, dst.each(), len(want))
	})
}
