package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

// tombstoneTTL is the Delta.Tombstone the tombstone tests ask for.
const tombstoneTTL = 3 * time.Minute

func (s *suite) testTombstone(t *testing.T) {
	// regenerate moves a fresh session to a new key leaving a tombstone,
	// and returns both keys and the record now under the new one.
	regenerate := func(e *env) (oldKey, newKey string, rec *sessions.Record) {
		e.t.Helper()
		oldKey, rec = e.session()
		newKey = randomKey()
		d := &sessions.Delta{Set: map[string]json.RawMessage{"login": raw(`1`)}, Tombstone: tombstoneTTL}
		got, err := e.store.Regenerate(e.ctx, oldKey, newKey, d)
		require.NoError(e.t, err, "Regenerate")
		want := expectMoved(rec, d)
		assertRecord(e.t, want, got)
		return oldKey, newKey, want
	}

	t.Run("ReplacedForItsTTLThenNotFound", func(t *testing.T) {
		e := s.env(t)
		oldKey, newKey, rec := regenerate(e)
		e.assertReplaced(oldKey)
		e.assertListed(rec.Principal, newKey)
		e.clock.Advance(tombstoneTTL - time.Millisecond)
		e.assertReplaced(oldKey)
		e.clock.Advance(time.Millisecond)
		e.assertGone(oldKey)
		_, err := e.store.Apply(e.ctx, oldKey, &sessions.Delta{Set: map[string]json.RawMessage{"late": raw(`1`)}})
		assert.ErrorIs(t, err, sessions.ErrNotFound, "Apply on a lapsed tombstone")
		e.assertGone(oldKey)
		assertRecord(t, rec, e.load(newKey))
	})

	t.Run("ApplyWritesNothing", func(t *testing.T) {
		e := s.env(t)
		oldKey, newKey, rec := regenerate(e)
		q := randomPrincipal()
		_, err := e.store.Apply(e.ctx, oldKey, &sessions.Delta{
			Set:       map[string]json.RawMessage{"paid": raw(`true`)},
			Principal: &q,
			IdleExp:   e.clock.Now().Add(idleTimeout),
		})
		require.ErrorIs(t, err, sessions.ErrReplaced)
		e.assertReplaced(oldKey)
		assertRecord(t, rec, e.load(newKey))
		e.assertListed(q)
		e.assertListed(rec.Principal, newKey)
	})

	t.Run("RegenerateOfTombstoneIsReplaced", func(t *testing.T) {
		e := s.env(t)
		oldKey, newKey, rec := regenerate(e)
		third := randomKey()
		_, err := e.store.Regenerate(e.ctx, oldKey, third, &sessions.Delta{Tombstone: tombstoneTTL})
		require.ErrorIs(t, err, sessions.ErrReplaced)
		e.assertGone(third)
		e.assertReplaced(oldKey)
		assertRecord(t, rec, e.load(newKey))
	})

	t.Run("DeleteIsReplacedAndKeepsIt", func(t *testing.T) {
		e := s.env(t)
		oldKey, newKey, rec := regenerate(e)
		require.ErrorIs(t, e.store.Delete(e.ctx, oldKey), sessions.ErrReplaced)
		e.assertReplaced(oldKey)
		assertRecord(t, rec, e.load(newKey))
		e.clock.Advance(tombstoneTTL)
		require.NoError(t, e.store.Delete(e.ctx, oldKey), "a lapsed tombstone is a missing key")
		e.assertGone(oldKey)
	})

	t.Run("ZeroLeavesNone", func(t *testing.T) {
		e := s.env(t)
		oldKey, _ := e.session()
		_, err := e.store.Regenerate(e.ctx, oldKey, randomKey(), &sessions.Delta{})
		require.NoError(t, err)
		e.assertStaysGone(oldKey)
	})

	t.Run("RefusedRegenerateLeavesNone", func(t *testing.T) {
		e := s.env(t)
		oldKey, rec := e.session()
		newKey := randomKey()
		_, err := e.store.Regenerate(e.ctx, oldKey, newKey, &sessions.Delta{BaseVersion: 9, Tombstone: tombstoneTTL})
		require.ErrorIs(t, err, sessions.ErrConflict)
		assertRecord(t, rec, e.load(oldKey))
		e.assertGone(newKey)
	})
}

// assertReplaced checks that key is a live tombstone: Load gets
// ErrReplaced and no record.
func (e *env) assertReplaced(key string) {
	e.t.Helper()
	rec, err := e.store.Load(e.ctx, key, nil)
	assert.ErrorIs(e.t, err, sessions.ErrReplaced, "Load of a tombstone")
	assert.Nil(e.t, rec, "Load returned a record with ErrReplaced")
}
