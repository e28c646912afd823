package migrate_test

import (
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/migrate"
	"github.com/sidecarproxy/sidecar/stores/storetest"
)

func TestCopy(t *testing.T) {
	clock := clocktest.New()
	src, dst := newMemory(t, clock), newMemory(t, clock)
	want := fill(t, src, clock, 30)
	var progress []migrate.Stats
	stats, err := migrate.Copy(t.Context(), src, dst, migrate.Options{
		Clock: clock.Now, ProgressEvery: 10,
		Progress: func(s migrate.Stats) { progress = append(progress, s) },
	})
	require.NoError(t, err)
	assert.Equal(t, migrate.Stats{Read: 30, Copied: 30}, stats)
	assertHolds(t, dst, want)
	require.Len(t, progress, 3, "a progress report every 10 records read")
	assert.Equal(t, []int64{10, 20, 30}, []int64{progress[0].Read, progress[1].Read, progress[2].Read})
	assertHolds(t, src, want) // the source is as it was

	t.Run("SecondRunCopiesNothing", func(t *testing.T) {
		stats, err := migrate.Copy(t.Context(), src, dst, migrate.Options{Clock: clock.Now})
		require.NoError(t, err)
		assert.Equal(t, migrate.Stats{Read: 30, Existing: 30}, stats)
		assertHolds(t, dst, want)
	})
}

func TestCopySkips(t *testing.T) {
	clock := clocktest.New()
	src, dst := newMemory(t, clock), newMemory(t, clock)
	ctx := t.Context()
	want := fill(t, src, clock, 3)

	// A session about to expire, one the target holds already (written on
	// the target since: its write must survive), and one a login on the
	// target regenerated away (its tombstone must stay).
	short := newRecord(clock, "ann")
	short.IdleExp = clock.Now().Add(time.Second)
	require.NoError(t, src.Create(ctx, "short", short))
	held := newRecord(clock, "bob")
	require.NoError(t, src.Create(ctx, "held", held))
	newer := newRecord(clock, "bob")
	newer.Version, newer.Attrs = 5, map[string]json.RawMessage{"written": json.RawMessage(`"on the target"`)}
	require.NoError(t, dst.Create(ctx, "held", newer))
	want["held"] = newer
	moved := newRecord(clock, "ann")
	require.NoError(t, src.Create(ctx, "moved", moved))
	require.NoError(t, dst.Create(ctx, "moved", moved))
	got, err := dst.Regenerate(ctx, "moved", "logged-in", &sessions.Delta{Handle: randomHex(16), Tombstone: time.Hour})
	require.NoError(t, err)
	want["logged-in"] = got

	stats, err := migrate.Copy(ctx, src, dst, migrate.Options{
		// The clock passes short's expiry as its copy is about to be written.
		Clock: func() time.Time { return clock.Now().Add(2 * time.Second) },
	})
	require.NoError(t, err)
	assert.Equal(t, migrate.Stats{Read: 6, Copied: 3, Existing: 2, Expired: 1}, stats)
	assertHolds(t, dst, want)
	_, err = dst.Load(ctx, "moved", nil)
	assert.ErrorIs(t, err, sessions.ErrReplaced, "the regenerated-away key stays a tombstone")
}

func TestCopyDryRun(t *testing.T) {
	clock := clocktest.New()
	src, dst := newMemory(t, clock), newMemory(t, clock)
	fill(t, src, clock, 5)
	existing := fill(t, dst, clock, 1)
	for key, rec := range existing {
		require.NoError(t, src.Create(t.Context(), key, rec))
	}
	journal, err := migrate.OpenJournal(filepath.Join(t.TempDir(), "journal"))
	require.NoError(t, err)
	stats, err := migrate.Copy(t.Context(), src, dst, migrate.Options{Clock: clock.Now, DryRun: true, Journal: journal})
	require.NoError(t, err)
	assert.Equal(t, migrate.Stats{Read: 6, Copied: 5, Existing: 1}, stats, "what a copy would do")
	assertHolds(t, dst, existing)
	assert.Zero(t, journal.Len(), "a dry run journals nothing")
	require.NoError(t, journal.Close())
}

// TestCopyJournalKeepsLogoutsOut: a second run with the journal of the
// first does not bring back a session that was copied and then logged
// out, revoked or regenerated away (without a tombstone) on the target,
// while it copies the sessions the source created in between.
func TestCopyJournalKeepsLogoutsOut(t *testing.T) {
	clock := clocktest.New()
	src, dst := newMemory(t, clock), newMemory(t, clock)
	ctx := t.Context()
	want := fill(t, src, clock, 4)
	path := filepath.Join(t.TempDir(), "journal")
	run := func(dryRun bool) migrate.Stats {
		t.Helper()
		j, err := migrate.OpenJournal(path)
		require.NoError(t, err)
		defer func() { require.NoError(t, j.Close()) }()
		stats, err := migrate.Copy(ctx, src, dst, migrate.Options{Clock: clock.Now, Journal: j, DryRun: dryRun})
		require.NoError(t, err)
		return stats
	}
	assert.Equal(t, migrate.Stats{Read: 4, Copied: 4}, run(false))

	var gone []string
	for key := range want {
		gone = append(gone, key)
		if len(gone) == 2 {
			break
		}
	}
	require.NoError(t, dst.Delete(ctx, gone[0])) // a logout on the target
	_, err := dst.Regenerate(ctx, gone[1], randomHex(32), &sessions.Delta{})
	require.NoError(t, err) // a login without a tombstone
	later := fill(t, src, clock, 2)

	assert.Equal(t, migrate.Stats{Read: 6, Copied: 2, Journaled: 4}, run(true), "dry run")
	assert.Equal(t, migrate.Stats{Read: 6, Copied: 2, Journaled: 4}, run(false))
	for _, key := range gone {
		_, err := dst.Load(ctx, key, nil)
		assert.ErrorIs(t, err, sessions.ErrNotFound, "a session gone from the target stays gone")
	}
	for key, rec := range later {
		got, err := dst.Load(ctx, key, nil)
		require.NoError(t, err)
		storetest.AssertRecord(t, rec, got)
	}
	assert.Equal(t, migrate.Stats{Read: 6, Journaled: 6}, run(false), "a third run")

	t.Run("WithoutTheJournal", func(t *testing.T) {
		// What the journal prevents: a run without it copies them back.
		stats, err := migrate.Copy(ctx, src, dst, migrate.Options{Clock: clock.Now})
		require.NoError(t, err)
		assert.Equal(t, int64(2), stats.Copied)
	})
}

func TestCopyFailures(t *testing.T) {
	clock := clocktest.New()
	src := newMemory(t, clock)
	fill(t, src, clock, 20)

	t.Run("CountedAndReported", func(t *testing.T) {
		var mu sync.Mutex
		var handles []string
		stats, err := migrate.Copy(t.Context(), src, failingStore{newMemory(t, clock)}, migrate.Options{
			Clock: clock.Now, MaxFailures: -1,
			OnFailure: func(_, handle string, err error) {
				mu.Lock()
				defer mu.Unlock()
				handles = append(handles, handle)
				assert.ErrorContains(t, err, "writing the target: target down")
			},
		})
		require.NoError(t, err)
		assert.Equal(t, migrate.Stats{Read: 20, Failed: 20}, stats)
		assert.Len(t, handles, 20)
		assert.NotContains(t, handles, "")
	})

	t.Run("TooManyStopTheCopy", func(t *testing.T) {
		stats, err := migrate.Copy(t.Context(), src, failingStore{newMemory(t, clock)}, migrate.Options{
			Clock: clock.Now, MaxFailures: 3, Workers: 1,
		})
		require.ErrorIs(t, err, migrate.ErrTooManyFailures)
		assert.Equal(t, int64(3), stats.Failed)
		assert.Less(t, stats.Read, int64(20))
	})
}
