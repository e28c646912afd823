package bolt

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
)

func TestSweeperDropsExpiredRecordsAndTheirIndexEntries(t *testing.T) {
	clock := clocktest.New()
	s, _ := openTest(t, Options{Clock: clock.Now, SweepInterval: 5 * time.Millisecond})
	ctx := context.Background()
	now := clock.Now()

	short := newRecord(now, "alice")
	short.IdleExp = now.Add(time.Minute)
	capped := newRecord(now, "alice")
	capped.AbsExp = now.Add(2 * time.Minute) // idle is later: AbsExp rules
	require.NoError(t, s.Create(ctx, "short", short))
	require.NoError(t, s.Create(ctx, "capped", capped))
	require.NoError(t, s.Create(ctx, "long", newRecord(now, "alice")))

	clock.Advance(2 * time.Minute) // both expire; "capped" exactly now
	require.Eventually(t, func() bool { return rawCount(t, s) == 1 }, 30*time.Second, 5*time.Millisecond,
		"the sweeper deletes both expired records")
	assert.Equal(t, indexes{principals: []string{"alice|long"}, expiry: []string{"long"}}, readIndexes(t, s))
	keys, err := s.ByPrincipal(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []string{"long"}, keys)
}

func TestSweepIsARangeScanInBatches(t *testing.T) {
	clock := clocktest.New()
	s, _ := openTest(t, Options{Clock: clock.Now, NoSync: true})
	ctx := context.Background()
	now := clock.Now()
	const expired, live = 2*sweepBatch + 7, 3
	for i := range expired + live {
		rec := newRecord(now, fmt.Sprint("p", i%5))
		if i < expired {
			rec.IdleExp = now.Add(time.Duration(i) * time.Millisecond)
		}
		require.NoError(t, s.Create(ctx, fmt.Sprint("k", i), rec))
	}
	clock.Advance(time.Minute)

	n, err := s.sweep()
	require.NoError(t, err)
	assert.Equal(t, expired, n)
	assert.Equal(t, live, rawCount(t, s))
	ix := readIndexes(t, s)
	assert.Len(t, ix.expiry, live)
	assert.Len(t, ix.principals, live)

	n, err = s.sweep()
	require.NoError(t, err)
	assert.Zero(t, n, "nothing left to sweep")
}

func TestSweepDropsOrphanStaleAndCorruptEntries(t *testing.T) {
	clock := clocktest.New()
	s, _ := openTest(t, Options{Clock: clock.Now})
	ctx := context.Background()
	now := clock.Now()
	require.NoError(t, s.Create(ctx, "k", newRecord(now, "")))
	require.NoError(t, s.Create(ctx, "corrupt", newRecord(now, "")))
	putRaw(t, s, "corrupt", []byte{0xee})
	require.NoError(t, s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketExpiry)
		if err := b.Put(expiryKey(now, "orphan"), nil); err != nil {
			return err
		}
		return b.Put(expiryKey(now, "k"), nil) // stale: k's expiry is an hour on
	}))

	clock.Advance(time.Millisecond)
	n, err := s.sweep()
	require.NoError(t, err)
	assert.Zero(t, n, "no record had expired")
	assert.Equal(t, indexes{expiry: []string{"corrupt", "k"}}, readIndexes(t, s),
		"the orphan and the stale entry are gone")
	_, err = s.Load(ctx, "k", nil)
	require.NoError(t, err, "the live record behind a stale entry stays")

	clock.Advance(2 * time.Hour)
	n, err = s.sweep()
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the expired and the corrupt record")
	assert.Equal(t, indexes{}, readIndexes(t, s))
	assert.Zero(t, rawCount(t, s))
}

func TestSweepErrorsReachOnSweepError(t *testing.T) {
	errs := make(chan error, 1)
	s, _ := openTest(t, Options{SweepInterval: time.Millisecond, OnSweepError: func(err error) {
		select {
		case errs <- err:
		default:
		}
	}})
	// Closing the bbolt file under the sweeper makes every sweep fail.
	require.NoError(t, s.db.Close())
	select {
	case err := <-errs:
		assert.ErrorIs(t, err, ErrClosed)
	case <-time.After(30 * time.Second):
		t.Fatal("no sweep error reported within 30s")
	}
}

func TestCloseStopsTheSweeper(t *testing.T) {
	s, _ := openTest(t, Options{SweepInterval: time.Millisecond})
	require.NoError(t, s.Close())
	select {
	case <-s.done:
	default:
		t.Fatal("Close returned before the sweeper goroutine")
	}
}
