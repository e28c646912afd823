package bolt

import (
	"bytes"
	"errors"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sidecarproxy/sidecar/sessions"
)

// bucketTombstones holds the tombstones Regenerate leaves under old keys:
// session key → 8-byte expiryStamp of the instant the tombstone lapses. It
// is a bucket of its own, not a record format, so that a build that does
// not know tombstones (layout 1 without this bucket) simply does not see
// it: for such a build a tombstoned key is an absent one (ErrNotFound),
// never a corrupt record.
var bucketTombstones = []byte("tombstones")

// putTombstone leaves a tombstone under key until until.
func putTombstone(tx *bbolt.Tx, key string, until time.Time) error {
	stamp := expiryStamp(until)
	return tx.Bucket(bucketTombstones).Put([]byte(key), stamp[:])
}

// dropTombstone removes any tombstone under key.
func dropTombstone(tx *bbolt.Tx, key string) error {
	return tx.Bucket(bucketTombstones).Delete([]byte(key))
}

// missing turns a sessions.ErrNotFound for key into sessions.ErrReplaced
// while a tombstone under key is live at now; other errors pass through.
func missing(tx *bbolt.Tx, key string, now time.Time, err error) error {
	if !errors.Is(err, sessions.ErrNotFound) {
		return err
	}
	b := tx.Bucket(bucketTombstones)
	if b == nil {
		return err // a file opened read-only that predates tombstones
	}
	v := b.Get([]byte(key))
	if len(v) != expiryStampLen {
		return err
	}
	stamp := expiryStamp(now)
	if bytes.Compare(stamp[:], v) < 0 {
		return sessions.ErrReplaced
	}
	return err
}

// sweepTombstones deletes up to sweepBatch tombstones that have lapsed at
// now, in one write transaction, and reports whether more may remain.
// Tombstones live minutes, so the bucket stays small and is scanned whole.
func (s *Store) sweepTombstones() (more bool, err error) {
	err = s.db.Update(func(tx *bbolt.Tx) error {
		more = false
		now := expiryStamp(s.clock())
		b := tx.Bucket(bucketTombstones)
		var due [][]byte
		err := b.ForEach(func(k, v []byte) error {
			if len(due) == sweepBatch {
				more = true
				return errStopScan
			}
			if len(v) != expiryStampLen || bytes.Compare(v, now[:]) <= 0 {
				due = append(due, bytes.Clone(k))
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopScan) {
			return err
		}
		if len(due) == 0 {
			return errRollback
		}
		for _, k := range due {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errRollback) {
		err = nil
	}
	return more, err
}

// errStopScan ends a ForEach early; it never leaves the package.
var errStopScan = errors.New("bolt: stop scan")
