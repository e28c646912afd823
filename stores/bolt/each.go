package bolt

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"

	"github.com/sidecarproxy/sidecar/sessions"
)

var _ sessions.Lister = (*Store)(nil)

// eachBatch is how many stored records Each reads per read-only
// transaction, live or not, so that no transaction stays open for long
// (an open read transaction keeps the pages it sees from being reused).
const eachBatch = 256

// listed is one record Each read, or why it could not.
type listed struct {
	key string
	rec *sessions.Record
	err error
}

// Each calls fn with each live record, in key order, reading the
// sessions bucket in read-only transactions of at most eachBatch records
// and calling fn between them, outside any transaction (so fn may use the
// store). A record that cannot be decoded is passed with an error
// wrapping ErrCorrupt. Each writes nothing; it works on a store opened
// with Options.ReadOnly. See sessions.Lister.
func (s *Store) Each(ctx context.Context, fn func(key string, rec *sessions.Record, err error) error) error {
	var after []byte // the last key read; nil before the first batch
	for {
		if err := ctxErr(ctx, "each"); err != nil {
			return err
		}
		batch, last, err := s.eachBatch(after)
		if err != nil {
			return wrap("each", err)
		}
		for _, l := range batch {
			if err := fn(l.key, l.rec, l.err); err != nil {
				return err
			}
		}
		if last == nil {
			return nil
		}
		after = last
	}
}

// eachBatch reads up to eachBatch stored records after the key after
// (from the first when nil) in one read-only transaction and returns the
// live ones and those it could not decode, and the last key it read (nil
// once the bucket is exhausted).
func (s *Store) eachBatch(after []byte) (batch []listed, last []byte, err error) {
	err = s.db.View(func(tx *bbolt.Tx) error {
		now := s.clock()
		c := tx.Bucket(bucketSessions).Cursor()
		k, _ := c.First()
		if after != nil {
			k, _ = c.Seek(after)
			if bytes.Equal(k, after) {
				k, _ = c.Next()
			}
		}
		for n := 0; k != nil; k, _ = c.Next() {
			if n == eachBatch {
				return nil
			}
			n++
			last = bytes.Clone(k)
			key := string(k)
			rec, err := get(tx, key)
			switch {
			case errors.Is(err, ErrCorrupt):
				batch = append(batch, listed{key: key, err: fmt.Errorf("bolt: reading a stored session: %w", err)})
			case err != nil:
				return err
			case rec.Live(now):
				batch = append(batch, listed{key: key, rec: rec})
			}
		}
		last = nil // the bucket is exhausted
		return nil
	})
	return batch, last, err
}
