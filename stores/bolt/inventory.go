package bolt

import (
	"bytes"
	"context"

	"go.etcd.io/bbolt"

	"github.com/sidecarproxy/sidecar/sessions"
)

var _ sessions.Inventory = (*Store)(nil)

// ByHandle returns the key of the live record whose Handle is h, or
// sessions.ErrNotFound, from the handle bucket in a read-only
// transaction.
func (s *Store) ByHandle(ctx context.Context, h string) (string, error) {
	if err := ctxErr(ctx, "by handle"); err != nil {
		return "", err
	}
	if h == "" {
		return "", sessions.ErrNotFound
	}
	var key string
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucketHandles)
		if b == nil {
			return sessions.ErrNotFound // a file opened read-only that predates handles
		}
		v := b.Get([]byte(h))
		if v == nil {
			return sessions.ErrNotFound
		}
		key = string(v)
		rec, err := live(tx, key, s.clock())
		if err != nil {
			return err
		}
		if rec.Handle != h {
			return sessions.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return "", wrap("by handle", err)
	}
	return key, nil
}

// Count counts the live records exactly: the entries of the expiry index
// after the clock's now, in a read-only transaction. It takes time
// proportional to the number of live records (a cursor step each).
func (s *Store) Count(ctx context.Context) (sessions.Count, error) {
	if err := ctxErr(ctx, "count"); err != nil {
		return sessions.Count{}, err
	}
	var n int64
	err := s.db.View(func(tx *bbolt.Tx) error {
		now := expiryStamp(s.clock())
		c := tx.Bucket(bucketExpiry).Cursor()
		for k, _ := c.Seek(now[:]); k != nil; k, _ = c.Next() {
			if !expiredBy(k, now) {
				n++
			}
		}
		return nil
	})
	if err != nil {
		return sessions.Count{}, wrap("count", err)
	}
	return sessions.Count{Live: n}, nil
}

// PrincipalIndexLen is the number of entries principal p's index holds,
// stale ones included (the records of expired sessions until the sweeper
// or ByPrincipal drops them): a diagnostic for tests, which check that the
// index does not outgrow the sessions it lists.
func (s *Store) PrincipalIndexLen(ctx context.Context, p string) (int, error) {
	if err := ctxErr(ctx, "principal index length"); err != nil {
		return 0, err
	}
	prefix := principalPrefix(p)
	n := 0
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucketPrincipals).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			n++
		}
		return nil
	})
	return n, wrap("principal index length", err)
}
