package bolt

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
)

// A file written before the details and handles buckets existed opens,
// gains them, and its records read with empty details; a new record gets
// both entries, and every way a record goes removes them.
func TestDetailsBucketsFollowTheRecords(t *testing.T) {
	clock := clocktest.New()
	s, path := openTest(t, Options{Clock: clock.Now})
	ctx := context.Background()
	now := clock.Now()
	require.NoError(t, s.Create(ctx, "old", newRecord(now, "alice")))
	// Make it an older file: no details or handles buckets.
	require.NoError(t, s.db.Update(func(tx *bbolt.Tx) error {
		return errors.Join(tx.DeleteBucket(bucketDetails), tx.DeleteBucket(bucketHandles))
	}))
	require.NoError(t, s.Close())
	s, err := Open(path, Options{Clock: clock.Now, SweepInterval: -1})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	rec, err := s.Load(ctx, "old", nil)
	require.NoError(t, err)
	assert.Empty(t, rec.Handle+rec.ClientIP+rec.UserAgent, "an old record has no details")

	fresh := newRecord(now, "alice")
	fresh.Handle, fresh.ClientIP, fresh.UserAgent = "h1", "192.0.2.1", "curl/8"
	require.NoError(t, s.Create(ctx, "k1", fresh))
	assert.Equal(t, 1, bucketLen(t, s, bucketDetails))
	assert.Equal(t, 1, bucketLen(t, s, bucketHandles))

	_, err = s.Apply(ctx, "k1", &sessions.Delta{IdleExp: now.Add(2 * time.Hour)})
	require.NoError(t, err)
	moved, err := s.Regenerate(ctx, "k1", "k2", &sessions.Delta{Handle: "h2"})
	require.NoError(t, err)
	assert.Equal(t, []string{"h2", "192.0.2.1", "curl/8"}, []string{moved.Handle, moved.ClientIP, moved.UserAgent})
	key, err := s.ByHandle(ctx, "h2")
	require.NoError(t, err)
	assert.Equal(t, "k2", key)
	_, err = s.ByHandle(ctx, "h1")
	assert.ErrorIs(t, err, sessions.ErrNotFound)
	assert.Equal(t, 1, bucketLen(t, s, bucketDetails), "the old key's details went with it")
	assert.Equal(t, 1, bucketLen(t, s, bucketHandles))

	require.NoError(t, s.Delete(ctx, "k2"))
	assert.Zero(t, bucketLen(t, s, bucketDetails))
	assert.Zero(t, bucketLen(t, s, bucketHandles))

	// Expiry: the sweeper takes the details too.
	require.NoError(t, s.Create(ctx, "k3", fresh))
	clock.Advance(25 * time.Hour)
	n, err := s.sweep()
	require.NoError(t, err)
	assert.Equal(t, 2, n, "k3 and the old record")
	assert.Zero(t, bucketLen(t, s, bucketDetails))
	assert.Zero(t, bucketLen(t, s, bucketHandles))
}
