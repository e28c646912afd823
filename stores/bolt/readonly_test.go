package bolt

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/sidecarproxy/sidecar/sessions"
)

// writeAndClose creates a file at a fresh path holding one live session
// (with principal and handle) and returns the path and the session's key.
func writeAndClose(t *testing.T) (path, key string, rec *sessions.Record) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "sessions.db")
	s, err := Open(path, Options{SweepInterval: -1, NoSync: true})
	require.NoError(t, err)
	rec = newRecord(time.Now(), "ann")
	rec.Handle = "0123456789abcdef0123456789abcdef"
	key = "k1"
	require.NoError(t, s.Create(t.Context(), key, rec))
	require.NoError(t, s.Close())
	return path, key, rec
}

func TestReadOnly(t *testing.T) {
	path, key, rec := writeAndClose(t)
	before, err := os.ReadFile(path)
	require.NoError(t, err)

	a, err := Open(path, Options{ReadOnly: true})
	require.NoError(t, err)
	b, err := Open(path, Options{ReadOnly: true, Timeout: 100 * time.Millisecond})
	require.NoError(t, err, "two read-only opens share the lock")
	_, err = Open(path, Options{Timeout: 100 * time.Millisecond})
	assert.ErrorIs(t, err, ErrLocked, "a writer waits for the readers")

	ctx := t.Context()
	got, err := a.Load(ctx, key, nil)
	require.NoError(t, err)
	assert.Equal(t, rec.Handle, got.Handle)
	keys, err := b.ByPrincipal(ctx, "ann")
	require.NoError(t, err)
	assert.Equal(t, []string{key}, keys)
	h, err := a.ByHandle(ctx, rec.Handle)
	require.NoError(t, err)
	assert.Equal(t, key, h)
	n := 0
	require.NoError(t, a.Each(ctx, func(string, *sessions.Record, error) error { n++; return nil }))
	assert.Equal(t, 1, n)

	err = a.Create(ctx, "k2", newRecord(time.Now(), ""))
	assert.ErrorIs(t, err, bberrors.ErrDatabaseReadOnly)
	assert.ErrorIs(t, a.Delete(ctx, key), bberrors.ErrDatabaseReadOnly)
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())

	after, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, before, after, "the file is unchanged")
}

func TestReadOnlyLockedByWriter(t *testing.T) {
	s, path := openTest(t, Options{})
	start := time.Now()
	_, err := Open(path, Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
	assert.ErrorIs(t, err, ErrLocked, "a running writer (Sidecar) holds the file")
	assert.Less(t, time.Since(start), 10*time.Second, "it gives up after the timeout")
	require.NoError(t, s.Close())
	r, err := Open(path, Options{ReadOnly: true})
	require.NoError(t, err, "once the writer has closed it")
	require.NoError(t, r.Close())
}

func TestReadOnlyMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "none.db")
	_, err := Open(path, Options{ReadOnly: true})
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.NoFileExists(t, path, "a read-only open creates nothing")
}

func TestReadOnlyNotASessionFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	db, err := bbolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucket([]byte("something else"))
		return err
	}))
	require.NoError(t, db.Close())
	_, err = Open(path, Options{ReadOnly: true})
	assert.ErrorIs(t, err, ErrCorrupt)
}

// TestReadOnlyOlderFile: a file an older build wrote, without the
// tombstones, details and handles buckets, is read as it is.
func TestReadOnlyOlderFile(t *testing.T) {
	path, key, _ := writeAndClose(t)
	db, err := bbolt.Open(path, 0o600, nil)
	require.NoError(t, err)
	require.NoError(t, db.Update(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketTombstones, bucketDetails, bucketHandles} {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, db.Close())

	s, err := Open(path, Options{ReadOnly: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	ctx := t.Context()
	got, err := s.Load(ctx, key, nil)
	require.NoError(t, err)
	assert.Empty(t, got.Handle, "no details in an older file")
	_, err = s.Load(ctx, "other", nil)
	assert.ErrorIs(t, err, sessions.ErrNotFound)
	_, err = s.ByHandle(ctx, "0123456789abcdef0123456789abcdef")
	assert.ErrorIs(t, err, sessions.ErrNotFound)
	var keys []string
	require.NoError(t, s.Each(ctx, func(k string, _ *sessions.Record, err error) error {
		keys = append(keys, k)
		return err
	}))
	assert.Equal(t, []string{key}, keys)
}

// TestEachPassesCorruptRecords: a record that cannot be decoded is passed
// with an error wrapping ErrCorrupt, and the others still are.
func TestEachPassesCorruptRecords(t *testing.T) {
	s, _ := openTest(t, Options{})
	ctx := context.Background()
	require.NoError(t, s.Create(ctx, "a", newRecord(time.Now(), "")))
	putRaw(t, s, "b", []byte{99, 1, 2})
	require.NoError(t, s.Create(ctx, "c", newRecord(time.Now(), "")))
	got := map[string]error{}
	require.NoError(t, s.Each(ctx, func(key string, rec *sessions.Record, err error) error {
		assert.Equal(t, err == nil, rec != nil)
		got[key] = err
		return nil
	}))
	require.Len(t, got, 3)
	assert.NoError(t, got["a"])
	assert.ErrorIs(t, got["b"], ErrCorrupt)
	assert.NoError(t, got["c"])
}
