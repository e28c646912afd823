package storetest

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

// testCopies checks that a store neither shares the maps and byte slices it
// returns nor keeps the ones passed to it: each row mutates something the
// caller holds and returns the key and what a later Load must still see.
func (s *suite) testCopies(t *testing.T) {
	// scribble mutates attrs in every way a caller might: overwrites the
	// bytes of each value in place, then adds and removes entries.
	scribble := func(attrs map[string]json.RawMessage) {
		for k, v := range attrs {
			for i := range v {
				v[i] = 'X'
			}
			delete(attrs, k)
		}
		attrs["scribbled"] = raw(`"by the caller"`)
	}
	tests := []struct {
		name string
		run  func(t *testing.T, e *env) (key string, want *sessions.Record)
	}{
		{"LoadedRecord", func(t *testing.T, e *env) (string, *sessions.Record) {
			key, rec := e.session()
			got := e.load(key)
			scribble(got.Attrs)
			got.Principal, got.Version = "someone-else", 99
			return key, rec
		}},
		{"LoadedRecordWithTouch", func(t *testing.T, e *env) (string, *sessions.Record) {
			key, rec := e.session()
			got, err := e.store.Load(e.ctx, key, &sessions.Touch{Before: rec.IdleExp, IdleExp: rec.IdleExp})
			require.NoError(t, err)
			scribble(got.Attrs)
			return key, rec
		}},
		{"RecordPassedToCreate", func(t *testing.T, e *env) (string, *sessions.Record) {
			rec := e.record(randomPrincipal())
			passed := cloneRecord(rec)
			key := randomKey()
			require.NoError(t, e.store.Create(e.ctx, key, passed))
			scribble(passed.Attrs)
			passed.Version = 99
			passed.IdleExp = passed.Created
			return key, rec
		}},
		{"DeltaPassedToApply", func(t *testing.T, e *env) (string, *sessions.Record) {
			key, rec := e.session()
			d := &sessions.Delta{Set: map[string]json.RawMessage{"cart": raw(`[4]`), "new": raw(`{"a":1}`)}}
			want := expect(rec, d)
			e.apply(key, d)
			scribble(d.Set)
			return key, want
		}},
		{"DeltaPassedToRegenerate", func(t *testing.T, e *env) (string, *sessions.Record) {
			oldKey, rec := e.session()
			newKey := randomKey()
			d := &sessions.Delta{Set: map[string]json.RawMessage{"new": raw(`{"a":1}`)}}
			want := expectMoved(rec, d)
			_, err := e.store.Regenerate(e.ctx, oldKey, newKey, d)
			require.NoError(t, err)
			scribble(d.Set)
			return newKey, want
		}},
		{"RecordReturnedByRegenerate", func(t *testing.T, e *env) (string, *sessions.Record) {
			oldKey, rec := e.session()
			newKey := randomKey()
			got, err := e.store.Regenerate(e.ctx, oldKey, newKey, &sessions.Delta{})
			require.NoError(t, err)
			scribble(got.Attrs)
			got.Version = 99
			return newKey, expectMoved(rec, &sessions.Delta{})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := s.env(t)
			key, want := tt.run(t, e)
			assertRecord(t, want, e.load(key))
		})
	}
}
