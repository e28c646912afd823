package bolt

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/sidecarproxy/sidecar/sessions"
)

// openTest opens a store in a fresh file under t.TempDir, closed at the end
// of the test. Unless opts says otherwise it runs no sweeper and skips
// fsync, to keep tests fast.
func openTest(t testing.TB, opts Options) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.db")
	if opts.SweepInterval == 0 {
		opts.SweepInterval = -1
	}
	s, err := Open(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, s.Close()) })
	return s, path
}

// newRecord is a live record created at now with one hour of idle time and
// a day of absolute time.
func newRecord(now time.Time, principal string) *sessions.Record {
	return &sessions.Record{
		Attrs:     map[string]json.RawMessage{"cart": json.RawMessage(`[1,2]`)},
		Principal: principal,
		Version:   1,
		Created:   now,
		IdleExp:   now.Add(time.Hour),
		AbsExp:    now.Add(24 * time.Hour),
	}
}

// indexes is every entry of the two index buckets, as sorted strings.
type indexes struct {
	principals []string // principalKey(p, key) rendered as p + "|" + key
	expiry     []string // the session keys of the expiry entries
}

func readIndexes(t testing.TB, s *Store) indexes {
	t.Helper()
	var ix indexes
	require.NoError(t, s.db.View(func(tx *bbolt.Tx) error {
		err := tx.Bucket(bucketPrincipals).ForEach(func(k, _ []byte) error {
			n, w := binary.Uvarint(k)
			end := w + int(n)
			ix.principals = append(ix.principals, string(k[w:end])+"|"+string(k[end:]))
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketExpiry).ForEach(func(k, _ []byte) error {
			ix.expiry = append(ix.expiry, string(k[expiryStampLen:]))
			return nil
		})
	}))
	slices.Sort(ix.principals)
	slices.Sort(ix.expiry)
	return ix
}

// expiryEntry returns the stamp of key's expiry-index entry, if any.
func expiryEntry(t testing.TB, s *Store, key string) ([expiryStampLen]byte, bool) {
	t.Helper()
	var stamp [expiryStampLen]byte
	found := false
	require.NoError(t, s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketExpiry).ForEach(func(k, _ []byte) error {
			if string(k[expiryStampLen:]) == key {
				copy(stamp[:], k)
				found = true
			}
			return nil
		})
	}))
	return stamp, found
}

// putRaw stores v under key in the sessions bucket, bypassing the codec.
func putRaw(t testing.TB, s *Store, key string, v []byte) {
	t.Helper()
	require.NoError(t, s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketSessions).Put([]byte(key), v)
	}))
}

// rawCount is the number of records in the sessions bucket, expired or not.
func rawCount(t testing.TB, s *Store) int {
	t.Helper()
	return bucketLen(t, s, bucketSessions)
}

// bucketLen is the number of entries in bucket name.
func bucketLen(t testing.TB, s *Store, name []byte) int {
	t.Helper()
	n := 0
	require.NoError(t, s.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(name).Stats().KeyN
		return nil
	}))
	return n
}

// lastTxID is the id of the last committed write transaction.
func lastTxID(t testing.TB, s *Store) int {
	t.Helper()
	var id int
	require.NoError(t, s.db.View(func(tx *bbolt.Tx) error {
		id = tx.ID()
		return nil
	}))
	return id
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }
