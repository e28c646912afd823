package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

func (s *suite) testExpiry(t *testing.T) {
	t.Run("IdleTimeout", func(t *testing.T) {
		e := s.env(t)
		key, rec := e.session()
		e.advanceTo(rec.IdleExp.Add(-time.Millisecond))
		assertRecord(t, rec, e.load(key))
		e.assertListed(rec.Principal, key)

		e.clock.Advance(time.Millisecond) // now == IdleExp: no longer live
		e.assertExpired(key, rec)
	})

	t.Run("AbsoluteTimeoutWinsOverSlidIdle", func(t *testing.T) {
		e := s.env(t)
		rec := e.record(randomPrincipal())
		rec.AbsExp = rec.Created.Add(time.Hour)
		key := e.create(rec)

		// Keep the idle expiry ahead of the clock, by Touch and by Apply.
		e.clock.Advance(20 * time.Minute)
		idle := e.clock.Now().Add(idleTimeout)
		got, err := e.store.Load(e.ctx, key, &sessions.Touch{Before: idle, IdleExp: idle})
		require.NoError(t, err)
		assertTime(t, "IdleExp after Touch", idle, got.IdleExp)
		e.clock.Advance(25 * time.Minute)
		e.apply(key, &sessions.Delta{IdleExp: e.clock.Now().Add(idleTimeout)})
		assertCapped(t, rec.AbsExp, e.load(key))

		e.advanceTo(rec.AbsExp.Add(-time.Millisecond))
		e.load(key)
		e.clock.Advance(time.Millisecond)
		e.assertExpired(key, rec)
	})

	t.Run("ApplyIdleExpSlides", func(t *testing.T) {
		e := s.env(t)
		key, rec := e.session()
		e.clock.Advance(20 * time.Minute)
		d := &sessions.Delta{
			Set:     map[string]json.RawMessage{"seen": raw(`1`)},
			IdleExp: e.clock.Now().Add(idleTimeout),
		}
		e.apply(key, d)
		want := expect(rec, d)
		assertRecord(t, want, e.load(key))

		e.advanceTo(rec.IdleExp) // the old idle expiry
		assertRecord(t, want, e.load(key))
		e.advanceTo(want.IdleExp)
		e.assertExpired(key, want)
	})

	t.Run("ApplyIdleExpCappedAtAbsExp", func(t *testing.T) {
		e := s.env(t)
		rec := e.record(randomPrincipal())
		rec.AbsExp = rec.Created.Add(time.Hour)
		key := e.create(rec)
		e.apply(key, &sessions.Delta{IdleExp: rec.Created.Add(2 * time.Hour)})
		assertCapped(t, rec.AbsExp, e.load(key))
		e.advanceTo(rec.AbsExp)
		e.assertExpired(key, rec)
	})
}

func (s *suite) testTouch(t *testing.T) {
	t.Run("SlidesOnlyWhenStoredIdleExpIsBeforeBefore", func(t *testing.T) {
		tests := []struct {
			name      string
			before    time.Duration // Touch.Before relative to the stored IdleExp
			wantSlide bool
		}{
			{"StoredAfterBefore", -time.Millisecond, false},
			{"StoredEqualsBefore", 0, false},
			{"StoredBeforeBefore", time.Millisecond, true},
			{"StoredLongBeforeBefore", idleTimeout, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := s.env(t)
				key, rec := e.session()
				e.clock.Advance(10 * time.Minute)
				touch := &sessions.Touch{
					Before:  rec.IdleExp.Add(tt.before),
					IdleExp: e.clock.Now().Add(idleTimeout),
				}
				want := cloneRecord(rec)
				if tt.wantSlide {
					want.IdleExp = touch.IdleExp
				}
				got, err := e.store.Load(e.ctx, key, touch)
				require.NoError(t, err)
				assertRecord(t, want, got) // Version and Attrs unchanged too
				assertRecord(t, want, e.load(key))
			})
		}
	})

	t.Run("DoesNotChangeVersion", func(t *testing.T) {
		e := s.env(t)
		key, rec := e.session()
		d := &sessions.Delta{Set: map[string]json.RawMessage{"a": raw(`1`)}}
		e.apply(key, d)
		want := expect(rec, d)
		for range 3 {
			e.clock.Advance(time.Minute)
			idle := e.clock.Now().Add(idleTimeout)
			got, err := e.store.Load(e.ctx, key, &sessions.Touch{Before: idle, IdleExp: idle})
			require.NoError(t, err)
			want.IdleExp = idle
			assertRecord(t, want, got)
		}
		assert.Equal(t, want.Version+1, e.apply(key, &sessions.Delta{}), "Apply after Touch")
	})

	t.Run("TouchedRecordOutlivesOldIdleExp", func(t *testing.T) {
		e := s.env(t)
		key, rec := e.session()
		e.clock.Advance(20 * time.Minute)
		idle := e.clock.Now().Add(idleTimeout)
		_, err := e.store.Load(e.ctx, key, &sessions.Touch{Before: idle, IdleExp: idle})
		require.NoError(t, err)

		want := cloneRecord(rec)
		want.IdleExp = idle
		e.advanceTo(rec.IdleExp)
		assertRecord(t, want, e.load(key))
		e.advanceTo(idle.Add(-time.Millisecond))
		assertRecord(t, want, e.load(key))
		e.clock.Advance(time.Millisecond)
		e.assertExpired(key, want)
	})

	t.Run("CappedAtAbsExp", func(t *testing.T) {
		e := s.env(t)
		rec := e.record(randomPrincipal())
		rec.AbsExp = rec.Created.Add(time.Hour)
		key := e.create(rec)
		e.clock.Advance(20 * time.Minute)
		idle := rec.AbsExp.Add(10 * time.Minute)
		got, err := e.store.Load(e.ctx, key, &sessions.Touch{Before: idle, IdleExp: idle})
		require.NoError(t, err)
		assertCapped(t, rec.AbsExp, got)
		assert.Equal(t, rec.Version, got.Version)
		assertCapped(t, rec.AbsExp, e.load(key))
		e.advanceTo(rec.AbsExp)
		e.assertExpired(key, rec)
	})

	t.Run("ExpiredIsErrNotFoundAndNotRevived", func(t *testing.T) {
		e := s.env(t)
		key, rec := e.session()
		e.advanceTo(rec.IdleExp)
		idle := e.clock.Now().Add(idleTimeout)
		_, err := e.store.Load(e.ctx, key, &sessions.Touch{Before: idle, IdleExp: idle})
		require.ErrorIs(t, err, sessions.ErrNotFound)
		e.assertExpired(key, rec)
	})
}

// assertExpired checks that the record rec, stored under key, has expired:
// every read and write sees ErrNotFound, its principal no longer lists it,
// and the failed writes brought nothing back.
func (e *env) assertExpired(key string, rec *sessions.Record) {
	e.t.Helper()
	e.assertGone(key)
	idle := e.clock.Now().Add(idleTimeout)
	_, err := e.store.Load(e.ctx, key, &sessions.Touch{Before: idle, IdleExp: idle})
	assert.ErrorIs(e.t, err, sessions.ErrNotFound, "Load with Touch")
	_, err = e.store.Apply(e.ctx, key, &sessions.Delta{
		Set:     map[string]json.RawMessage{"late": raw(`1`)},
		IdleExp: idle,
	})
	assert.ErrorIs(e.t, err, sessions.ErrNotFound, "Apply")
	newKey := randomKey()
	_, err = e.store.Regenerate(e.ctx, key, newKey, &sessions.Delta{IdleExp: idle})
	assert.ErrorIs(e.t, err, sessions.ErrNotFound, "Regenerate")
	e.assertGone(newKey)
	e.assertListed(rec.Principal)
	e.assertGone(key)
}

// assertCapped checks that rec's effective expiry is absExp: AbsExp is
// unchanged and IdleExp is not before it. Whether a store keeps a later
// IdleExp as given or stores it clamped to AbsExp is its choice.
func assertCapped(t *testing.T, absExp time.Time, rec *sessions.Record) {
	t.Helper()
	assertTime(t, "AbsExp", absExp, rec.AbsExp)
	assertTime(t, "Expiry()", absExp, rec.Expiry())
	assert.Falsef(t, rec.IdleExp.Before(absExp), "IdleExp %v is before AbsExp %v", rec.IdleExp, absExp)
}
