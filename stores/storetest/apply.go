package storetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

func (s *suite) testApply(t *testing.T) {
	t.Run("Deltas", func(t *testing.T) {
		// The record starts with env.record's attributes: user, cart, flag, empty.
		tests := []struct {
			name string
			d    sessions.Delta
		}{
			{"SetNew", sessions.Delta{Set: map[string]json.RawMessage{"theme": raw(`"dark"`)}}},
			{"Overwrite", sessions.Delta{Set: map[string]json.RawMessage{"cart": raw(`[ ]`)}}},
			{"Delete", sessions.Delta{Delete: []string{"cart", "flag"}}},
			{"DeleteAbsentIsIgnored", sessions.Delta{Delete: []string{"nope"}}},
			{"DeleteAll", sessions.Delta{Delete: []string{"user", "cart", "flag", "empty"}}},
			{"SetAndDelete", sessions.Delta{
				Set:    map[string]json.RawMessage{"theme": raw(`"dark"`), "flag": raw(`false`)},
				Delete: []string{"cart"},
			}},
			{"SetThenDeleteSameName", sessions.Delta{
				Set:    map[string]json.RawMessage{"cart": raw(`[9]`), "new": raw(`1`)},
				Delete: []string{"cart", "new"},
			}},
			{"Empty", sessions.Delta{}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := s.env(t)
				key, rec := e.session()
				v := e.apply(key, &tt.d)
				assert.Equal(t, rec.Version+1, v, "returned version")
				assertRecord(t, expect(rec, &tt.d), e.load(key))
				e.assertListed(rec.Principal, key)
			})
		}
	})

	t.Run("VersionIncrements", func(t *testing.T) {
		e := s.env(t)
		key, rec := e.session()
		want := rec
		for i := range 3 {
			d := &sessions.Delta{Set: map[string]json.RawMessage{"step": raw(strings.Repeat("1", i+1))}}
			want = expect(want, d)
			v := e.apply(key, d)
			assert.Equal(t, int64(i+2), v, "version returned by Apply #%d", i+1)
			got := e.load(key)
			assert.Equal(t, v, got.Version, "version loaded after Apply #%d", i+1)
			assertRecord(t, want, got)
		}
	})

	t.Run("MissingKeyIsErrNotFoundAndCreatesNothing", func(t *testing.T) {
		e := s.env(t)
		key, p := randomKey(), randomPrincipal()
		_, err := e.store.Apply(e.ctx, key, &sessions.Delta{
			Set:       map[string]json.RawMessage{"a": raw(`1`)},
			Principal: &p,
			IdleExp:   e.clock.Now().Add(idleTimeout),
		})
		require.ErrorIs(t, err, sessions.ErrNotFound)
		e.assertGone(key)
		e.assertListed(p)
	})

	t.Run("AfterDeleteIsErrNotFound", func(t *testing.T) {
		e := s.env(t)
		key, rec := e.session()
		require.NoError(t, e.store.Delete(e.ctx, key))
		_, err := e.store.Apply(e.ctx, key, &sessions.Delta{
			Set:     map[string]json.RawMessage{"late": raw(`1`)},
			IdleExp: e.clock.Now().Add(idleTimeout),
		})
		require.ErrorIs(t, err, sessions.ErrNotFound)
		e.assertGone(key)
		e.assertListed(rec.Principal)
	})
}

func (s *suite) testMaxBytes(t *testing.T) {
	// The record's size is 15: "a" + `"xxxx"` is 7, "b" + `[1,2,3]` is 8.
	base := map[string]json.RawMessage{"a": raw(`"xxxx"`), "b": raw(`[1,2,3]`)}
	big := raw(`"` + strings.Repeat("z", 1000) + `"`)
	tests := []struct {
		name     string
		maxBytes int
		set      map[string]json.RawMessage
		del      []string
		wantErr  error
	}{
		{"UnderLimit", 100, map[string]json.RawMessage{"c": raw(`1`)}, nil, nil},
		{"ExactlyAtLimit", 17, map[string]json.RawMessage{"c": raw(`1`)}, nil, nil},
		{"OneByteOver", 16, map[string]json.RawMessage{"c": raw(`1`)}, nil, sessions.ErrTooLarge},
		{"OverwriteCountsOnlyNewValue", 15, map[string]json.RawMessage{"a": raw(`"yyyy"`)}, nil, nil},
		{"OverwriteGrowsPast", 15, map[string]json.RawMessage{"a": raw(`"yyyyy"`)}, nil, sessions.ErrTooLarge},
		{"DeleteAndSetStaysUnder", 15, map[string]json.RawMessage{"c": raw(`[9,9,9]`)}, []string{"b"}, nil},
		{"DeleteAndSetGoesOver", 15, map[string]json.RawMessage{"c": raw(`[9,9,9,9]`)}, []string{"b"}, sessions.ErrTooLarge},
		{"SetThenDeleteSameNameStaysUnder", 15, map[string]json.RawMessage{"c": big}, []string{"c"}, nil},
		{"DeleteBringsUnder", 10, nil, []string{"b"}, nil},
		{"ShrinkingButStillOver", 5, nil, []string{"b"}, sessions.ErrTooLarge},
		{"ZeroIsUnlimited", 0, map[string]json.RawMessage{"c": big}, nil, nil},
		{"NegativeIsUnlimited", -1, map[string]json.RawMessage{"c": big}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := s.env(t)
			rec := e.record(randomPrincipal())
			rec.Attrs = base
			key := e.create(rec)
			newPrincipal := randomPrincipal()
			d := &sessions.Delta{
				Set:       tt.set,
				Delete:    tt.del,
				Principal: &newPrincipal,
				IdleExp:   rec.IdleExp.Add(time.Minute),
				MaxBytes:  tt.maxBytes,
			}
			_, err := e.store.Apply(e.ctx, key, d)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assertRecord(t, rec, e.load(key))
				e.assertListed(rec.Principal, key)
				e.assertListed(newPrincipal)
				return
			}
			require.NoError(t, err)
			assertRecord(t, expect(rec, d), e.load(key))
			e.assertListed(rec.Principal)
			e.assertListed(newPrincipal, key)
		})
	}
}

func (s *suite) testBaseVersion(t *testing.T) {
	// The record is at Version 2 when the conditional write is tried.
	tests := []struct {
		name        string
		baseVersion int64
		wantErr     error
	}{
		{"ZeroIsUnconditional", 0, nil},
		{"Match", 2, nil},
		{"Behind", 1, sessions.ErrConflict},
		{"Ahead", 3, sessions.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := s.env(t)
			key, rec := e.session()
			first := &sessions.Delta{Set: map[string]json.RawMessage{"first": raw(`1`)}}
			require.Equal(t, int64(2), e.apply(key, first))
			rec = expect(rec, first)

			newPrincipal := randomPrincipal()
			d := &sessions.Delta{
				Set:         map[string]json.RawMessage{"second": raw(`2`)},
				Delete:      []string{"cart"},
				Principal:   &newPrincipal,
				IdleExp:     rec.IdleExp.Add(time.Minute),
				BaseVersion: tt.baseVersion,
			}
			v, err := e.store.Apply(e.ctx, key, d)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
				assertRecord(t, rec, e.load(key))
				e.assertListed(rec.Principal, key)
				e.assertListed(newPrincipal)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, int64(3), v)
			assertRecord(t, expect(rec, d), e.load(key))
		})
	}
}
