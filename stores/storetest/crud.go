package storetest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

func (s *suite) testCreate(t *testing.T) {
	t.Run("RoundTrip", func(t *testing.T) {
		tests := []struct {
			name  string
			attrs map[string]json.RawMessage
		}{
			{"OddlySpacedJSON", nil}, // env.record's own attributes
			{"AllJSONKinds", map[string]json.RawMessage{
				"s": raw(`"a \"quoted\" \\ string"`), "n": raw(`-1.5e3`), "t": raw(`true`),
				"f": raw(`false`), "z": raw(`null`), "a": raw(`[]`), "o": raw(`{}`),
			}},
			{"UnicodeNamesAndValues", map[string]json.RawMessage{
				"Grüße": raw(`"日本語 ✓"`), "emoji 🙂": raw(`"\ud83d\ude42"`),
			}},
			{"NoAttributes", map[string]json.RawMessage{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := s.env(t)
				rec := e.record(randomPrincipal())
				if tt.attrs != nil {
					rec.Attrs = tt.attrs
				}
				key := e.create(rec)
				assertRecord(t, rec, e.load(key))
			})
		}
	})

	t.Run("NilAttrsLoadsEmpty", func(t *testing.T) {
		e := s.env(t)
		rec := e.record("")
		rec.Attrs = nil
		key := e.create(rec)
		assert.Empty(t, e.load(key).Attrs)
		d := &sessions.Delta{Set: map[string]json.RawMessage{"a": raw(`1`)}}
		assert.Equal(t, int64(2), e.apply(key, d))
		assertRecord(t, expect(rec, d), e.load(key))
	})

	t.Run("KeepsGivenVersion", func(t *testing.T) {
		e := s.env(t)
		rec := e.record("")
		rec.Version = 7
		key := e.create(rec)
		assert.Equal(t, int64(7), e.load(key).Version)
		assert.Equal(t, int64(8), e.apply(key, &sessions.Delta{}))
	})

	t.Run("LiveKeyIsErrExists", func(t *testing.T) {
		e := s.env(t)
		key, rec := e.session()
		other := e.record(randomPrincipal())
		other.Attrs = map[string]json.RawMessage{"intruder": raw(`1`)}
		err := e.store.Create(e.ctx, key, other)
		require.ErrorIs(t, err, sessions.ErrExists)
		assertRecord(t, rec, e.load(key))
		e.assertListed(rec.Principal, key)
		e.assertListed(other.Principal)
	})

	t.Run("ExpiredKeyIsReusable", func(t *testing.T) {
		e := s.env(t)
		key, old := e.session()
		e.advanceTo(old.IdleExp)
		rec := e.record(randomPrincipal())
		rec.Attrs = map[string]json.RawMessage{"fresh": raw(`1`)}
		require.NoError(t, e.store.Create(e.ctx, key, cloneRecord(rec)))
		assertRecord(t, rec, e.load(key))
		e.assertListed(rec.Principal, key)
		e.assertListed(old.Principal)
	})
}

func (s *suite) testLoad(t *testing.T) {
	t.Run("MissingKeyIsErrNotFound", func(t *testing.T) {
		e := s.env(t)
		e.assertGone(randomKey())
	})

	t.Run("MissingKeyWithTouchIsErrNotFound", func(t *testing.T) {
		e := s.env(t)
		now := e.clock.Now()
		key := randomKey()
		_, err := e.store.Load(e.ctx, key, &sessions.Touch{Before: now.Add(idleTimeout), IdleExp: now.Add(idleTimeout)})
		require.ErrorIs(t, err, sessions.ErrNotFound)
		e.assertGone(key)
	})
}

func (s *suite) testDelete(t *testing.T) {
	t.Run("RemovesRecordAndIndex", func(t *testing.T) {
		e := s.env(t)
		key, rec := e.session()
		require.NoError(t, e.store.Delete(e.ctx, key))
		e.assertGone(key)
		e.assertListed(rec.Principal)
	})

	t.Run("LeavesOtherKeys", func(t *testing.T) {
		e := s.env(t)
		rec := e.record(randomPrincipal())
		gone, kept := e.create(rec), e.create(rec)
		require.NoError(t, e.store.Delete(e.ctx, gone))
		assertRecord(t, rec, e.load(kept))
		e.assertListed(rec.Principal, kept)
	})

	t.Run("MissingKeyIsNil", func(t *testing.T) {
		e := s.env(t)
		require.NoError(t, e.store.Delete(e.ctx, randomKey()))
	})

	t.Run("TwiceIsNil", func(t *testing.T) {
		e := s.env(t)
		key, _ := e.session()
		require.NoError(t, e.store.Delete(e.ctx, key))
		require.NoError(t, e.store.Delete(e.ctx, key))
		e.assertGone(key)
	})

	t.Run("ExpiredKeyIsNil", func(t *testing.T) {
		e := s.env(t)
		key, rec := e.session()
		e.advanceTo(rec.IdleExp)
		require.NoError(t, e.store.Delete(e.ctx, key))
		e.assertGone(key)
	})
}
