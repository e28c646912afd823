package migrate_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
	"github.com/sidecarproxy/sidecar/stores/storetest"
)

// store is what the tests need of a store: a sessions.Store that lists
// its sessions and finds them by handle.
type store interface {
	sessions.Store
	sessions.Lister
	sessions.Inventory
}

// newMemory returns a memory store on clock, closed when the test ends.
func newMemory(t *testing.T, clock *clocktest.Clock) *memory.Store {
	t.Helper()
	s := memory.New(memory.Options{Clock: clock.Now})
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fill creates n sessions in s as the Manager would at clock's now (every
// third one anonymous, the others with one of two principals), each with
// data of its own, and returns them by key.
func fill(t *testing.T, s sessions.Store, clock *clocktest.Clock, n int) map[string]*sessions.Record {
	t.Helper()
	out := make(map[string]*sessions.Record, n)
	for i := range n {
		rec := newRecord(clock, []string{"", "ann", "bob"}[i%3])
		rec.Attrs["i"] = json.RawMessage(`{"n": ` + string(rune('0'+i%10)) + `, "s":"Grüße ✓"}`)
		rec.Version = int64(1 + i%4)
		key := randomHex(32)
		require.NoError(t, s.Create(t.Context(), key, rec))
		out[key] = rec
	}
	return out
}

// newRecord is a fresh record as the Manager creates it at clock's now.
func newRecord(clock *clocktest.Clock, principal string) *sessions.Record {
	now := clock.Now()
	return &sessions.Record{
		Attrs:     map[string]json.RawMessage{"cart": json.RawMessage(`[1, 2 ,3]`)},
		Principal: principal,
		Version:   1,
		Created:   now.Add(-time.Minute),
		IdleExp:   now.Add(30 * time.Minute),
		AbsExp:    now.Add(8 * time.Hour),
		Handle:    randomHex(16),
		ClientIP:  "192.0.2.7",
		UserAgent: "Mozilla/5.0 (test)",
	}
}

// assertHolds checks that s holds exactly want (every field of every
// record), each found by its principal and its handle.
func assertHolds(t *testing.T, s store, want map[string]*sessions.Record) {
	t.Helper()
	ctx := t.Context()
	n := 0
	require.NoError(t, s.Each(ctx, func(key string, got *sessions.Record, err error) error {
		require.NoError(t, err)
		n++
		rec, ok := want[key]
		if !assert.True(t, ok, "the target holds a session the source did not have") {
			return nil
		}
		storetest.AssertRecord(t, rec, got)
		return nil
	}))
	assert.Equal(t, len(want), n, "sessions in the target")
	for key, rec := range want {
		if rec.Principal != "" {
			keys, err := s.ByPrincipal(ctx, rec.Principal)
			require.NoError(t, err)
			assert.Contains(t, keys, key, "ByPrincipal(%s) on the target", rec.Principal)
		}
		if rec.Handle != "" {
			got, err := s.ByHandle(ctx, rec.Handle)
			require.NoError(t, err)
			assert.Equal(t, key, got, "ByHandle on the target")
		}
	}
}

// failingStore is a target whose writes fail, as a target that is down.
type failingStore struct {
	sessions.Store
}

func (f failingStore) Create(context.Context, string, *sessions.Record) error {
	return errors.New("target down")
}

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
