package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

func (s *suite) testRegenerate(t *testing.T) {
	t.Run("MovesRecord", func(t *testing.T) {
		tests := []struct {
			name  string
			d     sessions.Delta
			slide bool // set d.IdleExp a full idle timeout past the clock
		}{
			{"EmptyDelta", sessions.Delta{}, false},
			{"WithDelta", sessions.Delta{
				Set:    map[string]json.RawMessage{"csrf": raw(`"new-token"`), "flag": raw(`false`)},
				Delete: []string{"cart"},
			}, false},
			{"WithIdleExp", sessions.Delta{}, true},
			{"WithMatchingBaseVersionAndRoom", sessions.Delta{
				Set:         map[string]json.RawMessage{"b": raw(`1`)},
				BaseVersion: 2,
				MaxBytes:    1000,
			}, false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := s.env(t)
				oldKey, rec := e.session()
				first := &sessions.Delta{Set: map[string]json.RawMessage{"a": raw(`1`)}}
				e.apply(oldKey, first)
				rec = expect(rec, first)
				e.clock.Advance(5 * time.Minute)

				d := tt.d
				d.Handle = randomHandle()
				if tt.slide {
					d.IdleExp = e.clock.Now().Add(idleTimeout)
				}
				newKey := randomKey()
				got, err := e.store.Regenerate(e.ctx, oldKey, newKey, &d)
				require.NoError(t, err)
				want := expectMoved(rec, &d)
				assertRecord(t, want, got) // Created and AbsExp carried over
				assertRecord(t, want, e.load(newKey))
				e.assertStaysGone(oldKey)
				e.assertListed(rec.Principal, newKey)
			})
		}
	})

	t.Run("ChangesPrincipal", func(t *testing.T) {
		e := s.env(t)
		oldKey, rec := e.session()
		q := randomPrincipal()
		newKey := randomKey()
		d := &sessions.Delta{Principal: &q}
		got, err := e.store.Regenerate(e.ctx, oldKey, newKey, d)
		require.NoError(t, err)
		assertRecord(t, expectMoved(rec, d), got)
		e.assertListed(rec.Principal)
		e.assertListed(q, newKey)
	})

	t.Run("Chained", func(t *testing.T) {
		e := s.env(t)
		k1, rec := e.session()
		k2, k3 := randomKey(), randomKey()
		_, err := e.store.Regenerate(e.ctx, k1, k2, &sessions.Delta{})
		require.NoError(t, err)
		got, err := e.store.Regenerate(e.ctx, k2, k3, &sessions.Delta{})
		require.NoError(t, err)
		assert.Equal(t, rec.Version+2, got.Version)
		e.assertStaysGone(k1)
		e.assertStaysGone(k2)
		e.assertListed(rec.Principal, k3)
	})

	t.Run("MissingOldKeyIsErrNotFound", func(t *testing.T) {
		e := s.env(t)
		oldKey, newKey, p := randomKey(), randomKey(), randomPrincipal()
		_, err := e.store.Regenerate(e.ctx, oldKey, newKey, &sessions.Delta{
			Set:       map[string]json.RawMessage{"a": raw(`1`)},
			Principal: &p,
		})
		require.ErrorIs(t, err, sessions.ErrNotFound)
		e.assertGone(oldKey)
		e.assertGone(newKey)
		e.assertListed(p)
	})

	t.Run("DeletedOldKeyIsErrNotFound", func(t *testing.T) {
		e := s.env(t)
		oldKey, rec := e.session()
		require.NoError(t, e.store.Delete(e.ctx, oldKey))
		newKey := randomKey()
		_, err := e.store.Regenerate(e.ctx, oldKey, newKey, &sessions.Delta{})
		require.ErrorIs(t, err, sessions.ErrNotFound)
		e.assertGone(oldKey)
		e.assertGone(newKey)
		e.assertListed(rec.Principal)
	})

	t.Run("RefusedWriteKeepsOldKey", func(t *testing.T) {
		tests := []struct {
			name    string
			d       sessions.Delta
			wantErr error
		}{
			{"TooLarge", sessions.Delta{
				Set:      map[string]json.RawMessage{"big": raw(`"0123456789"`)},
				MaxBytes: 20,
			}, sessions.ErrTooLarge},
			{"Conflict", sessions.Delta{
				Set:         map[string]json.RawMessage{"a": raw(`1`)},
				BaseVersion: 5,
			}, sessions.ErrConflict},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := s.env(t)
				oldKey, rec := e.session()
				q := randomPrincipal()
				d := tt.d
				d.Principal = &q
				d.IdleExp = rec.IdleExp.Add(time.Minute)
				newKey := randomKey()
				_, err := e.store.Regenerate(e.ctx, oldKey, newKey, &d)
				require.ErrorIs(t, err, tt.wantErr)
				assertRecord(t, rec, e.load(oldKey))
				e.assertGone(newKey)
				e.assertListed(rec.Principal, oldKey)
				e.assertListed(q)
				// The old key still takes writes.
				assert.Equal(t, rec.Version+1, e.apply(oldKey, &sessions.Delta{}))
			})
		}
	})
}

// assertStaysGone checks that key holds no live record (it was deleted or
// regenerated away): Load and Apply get ErrNotFound, and the refused Apply
// did not bring it back.
func (e *env) assertStaysGone(key string) {
	e.t.Helper()
	e.assertGone(key)
	_, err := e.store.Apply(e.ctx, key, &sessions.Delta{
		Set:     map[string]json.RawMessage{"late": raw(`1`)},
		IdleExp: e.clock.Now().Add(idleTimeout),
	})
	assert.ErrorIs(e.t, err, sessions.ErrNotFound, "Apply to a key that must hold no live record")
	e.assertGone(key)
}
