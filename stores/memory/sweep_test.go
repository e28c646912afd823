package memory

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
)

// counts returns how many records and indexed principals s holds,
// expired or not.
func (s *Store) counts() (records, principals int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.records), len(s.principals)
}

func newRecord(now time.Time, principal string, idle time.Duration) *sessions.Record {
	return &sessions.Record{
		Attrs:     map[string]json.RawMessage{"a": json.RawMessage(`1`)},
		Principal: principal,
		Version:   1,
		Created:   now,
		IdleExp:   now.Add(idle),
		AbsExp:    now.Add(24 * time.Hour),
	}
}

func TestSweeperDropsExpiredRecords(t *testing.T) {
	clock := clocktest.New()
	s := New(Options{Clock: clock.Now, SweepInterval: time.Millisecond})
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	now := clock.Now()
	require.NoError(t, s.Create(ctx, "short", newRecord(now, "alice", time.Minute)))
	require.NoError(t, s.Create(ctx, "long", newRecord(now, "bob", time.Hour)))

	s.sweep()
	records, principals := s.counts()
	require.Equal(t, 2, records, "a sweep keeps live records")
	require.Equal(t, 2, principals)

	clock.Advance(time.Minute) // "short" expires; nothing reads it
	require.Eventually(t, func() bool {
		records, principals := s.counts()
		return records == 1 && principals == 1
	}, 10*time.Second, time.Millisecond, "the sweeper drops the expired record and its index entry")

	rec, err := s.Load(ctx, "long", nil)
	require.NoError(t, err)
	assert.Equal(t, "bob", rec.Principal)
}

func TestCloseStopsSweeper(t *testing.T) {
	s := New(Options{SweepInterval: time.Millisecond})
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { assert.NoError(t, s.Close()) })
	}
	wg.Wait()
	select {
	case <-s.done:
	default:
		t.Fatal("the sweeper goroutine is still running after Close returned")
	}
	require.NoError(t, s.Close(), "Close is idempotent")

	// The store itself keeps working.
	ctx := t.Context()
	now := time.Now()
	require.NoError(t, s.Create(ctx, "k", newRecord(now, "", time.Minute)))
	_, err := s.Load(ctx, "k", nil)
	require.NoError(t, err)
}

func TestDefaults(t *testing.T) {
	s := New(Options{})
	t.Cleanup(func() { _ = s.Close() })
	assert.NotNil(t, s.clock, "nil Clock means time.Now")
	before := time.Now()
	assert.False(t, s.clock().Before(before))
}
