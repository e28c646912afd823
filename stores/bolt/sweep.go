package bolt

import (
	"bytes"
	"errors"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sidecarproxy/sidecar/sessions"
)

// sweepBatch bounds the records one sweep transaction deletes, so the
// sweeper never holds bbolt's single writer lock for long.
const sweepBatch = 512

// sweepLoop runs sweep every interval until s.stop is closed (by Close),
// then closes s.done and returns. A sweep in progress finishes its current
// batch first; Close waits for that.
func (s *Store) sweepLoop(interval time.Duration) {
	defer close(s.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if _, err := s.sweep(); err != nil && s.onSweepError != nil {
				s.onSweepError(err)
			}
		}
	}
}

// sweep deletes every record whose expiry the clock has reached, with its
// index entries, by a range scan of the expiry index, in transactions of
// at most sweepBatch records. It returns how many records it deleted, and
// stops early (without error) when s.stop is closed.
func (s *Store) sweep() (int, error) {
	for more := true; more; {
		var err error
		if more, err = s.sweepTombstones(); err != nil {
			return 0, wrap("sweep tombstones", err)
		}
	}
	total := 0
	for {
		n, more, err := s.sweepOnce()
		total += n
		if err != nil || !more {
			return total, wrap("sweep", err)
		}
		select {
		case <-s.stop:
			return total, nil
		default:
		}
	}
}

// sweepOnce is one sweep transaction. more reports that the batch was full
// and expired entries may remain.
func (s *Store) sweepOnce() (deleted int, more bool, err error) {
	err = s.db.Update(func(tx *bbolt.Tx) error {
		deleted, more = 0, false
		now := s.clock()
		stamp := expiryStamp(now)
		var due [][]byte
		c := tx.Bucket(bucketExpiry).Cursor()
		for k, _ := c.First(); k != nil && expiredBy(k, stamp); k, _ = c.Next() {
			if len(due) == sweepBatch {
				more = true
				break
			}
			due = append(due, bytes.Clone(k))
		}
		if len(due) == 0 {
			return errRollback
		}
		for _, k := range due {
			gone, err := sweepEntry(tx, k, now)
			if err != nil {
				return err
			}
			if gone {
				deleted++
			}
		}
		return nil
	})
	if errors.Is(err, errRollback) {
		err = nil
	}
	return deleted, more, err
}

// sweepEntry handles one due expiry-index entry k: the record it names is
// deleted with its index entries if that record has expired and k is its
// entry. An entry that names no record, or a record it no longer describes,
// is dropped alone. A record that cannot be decoded is dropped with k (its
// principal entry, unknowable, is left for ByPrincipal to prune). gone
// reports whether a record was deleted.
func sweepEntry(tx *bbolt.Tx, k []byte, now time.Time) (gone bool, err error) {
	key := string(k[expiryStampLen:])
	rec, err := get(tx, key)
	switch {
	case errors.Is(err, sessions.ErrNotFound):
		return false, tx.Bucket(bucketExpiry).Delete(k)
	case errors.Is(err, ErrCorrupt):
		if err := tx.Bucket(bucketSessions).Delete([]byte(key)); err != nil {
			return false, err
		}
		if err := removeDetails(tx, key); err != nil {
			return false, err
		}
		return true, tx.Bucket(bucketExpiry).Delete(k)
	case err != nil:
		return false, err
	case rec.Live(now) || !bytes.Equal(expiryKey(rec.Expiry(), key), k):
		return false, tx.Bucket(bucketExpiry).Delete(k)
	}
	return true, removeRecord(tx, key, indexOf(rec))
}
