package bolt

import (
	"bytes"
	"context"
	"errors"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Load returns the live record under key, or sessions.ErrNotFound
// (sessions.ErrReplaced on a live tombstone). It reads
// in a read-only transaction, and opens a write transaction only when touch
// is non-nil and due (the stored IdleExp is before touch.Before); the write
// re-checks both conditions, so a record deleted or touched meanwhile is
// handled as the contract says. Expired records are left for the sweeper.
//
// ctx is checked before each transaction; a transaction under way is not
// interrupted. A record that cannot be decoded yields an error wrapping
// ErrCorrupt.
func (s *Store) Load(ctx context.Context, key string, touch *sessions.Touch) (*sessions.Record, error) {
	if err := ctxErr(ctx, "load"); err != nil {
		return nil, err
	}
	rec, err := s.read(key)
	if err != nil || touch == nil || !rec.IdleExp.Before(touch.Before) {
		return rec, wrap("load", err)
	}
	if err := ctxErr(ctx, "load"); err != nil {
		return nil, err
	}
	var touched *sessions.Record
	err = s.update(func(tx *bbolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return refuse(err)
		}
		var err error
		touched, err = live(tx, key, s.clock())
		if err != nil {
			return refuse(err)
		}
		if !touched.IdleExp.Before(touch.Before) {
			return refuse(errRollback) // touched meanwhile: nothing to commit
		}
		prev := indexOf(touched)
		touched.IdleExp = touch.IdleExp
		_, err = putRecord(tx, key, touched, prev)
		return err
	})
	if err != nil && !errors.Is(err, errRollback) {
		return nil, wrap("load", err)
	}
	return touched, nil
}

// read is Load's read-only transaction, without db.View's closure (and
// the record escaping through it).
func (s *Store) read(key string) (*sessions.Record, error) {
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, err
	}
	defer func() { _ = tx.Rollback() }()
	now := s.clock()
	rec, err := live(tx, key, now)
	return rec, missing(tx, key, now, err)
}

// get returns a caller-owned copy of the record stored under key, with
// its details, live or not, sessions.ErrNotFound if there is none, or an
// error wrapping ErrCorrupt.
func get(tx *bbolt.Tx, key string) (*sessions.Record, error) {
	kb := []byte(key)
	v := tx.Bucket(bucketSessions).Get(kb)
	if v == nil {
		return nil, sessions.ErrNotFound
	}
	rec, err := decodeRecord(bytes.Clone(v))
	if err != nil {
		return nil, err
	}
	d, err := getDetails(tx, kb)
	if err != nil {
		return nil, err
	}
	rec.Handle, rec.ClientIP, rec.UserAgent = d.handle, d.clientIP, d.userAgent
	return rec, nil
}

// live is get for a record live at now: an expired one is
// sessions.ErrNotFound.
func live(tx *bbolt.Tx, key string, now time.Time) (*sessions.Record, error) {
	rec, err := get(tx, key)
	if err != nil {
		return nil, err
	}
	if !rec.Live(now) {
		return nil, sessions.ErrNotFound
	}
	return rec, nil
}

// ByPrincipal lists the keys of the live records whose principal is p, by a
// prefix scan of the principal index in a read-only transaction. Index
// entries whose record is gone or names another principal (which only a
// deleted corrupt record leaves behind) are pruned, and expired records
// are deleted with their index entries as the sweeper would, in a second,
// write transaction, opened only if there are any. The empty principal is never
// indexed, so ByPrincipal("") returns nothing. A listed record that cannot
// be decoded yields an error wrapping ErrCorrupt.
func (s *Store) ByPrincipal(ctx context.Context, p string) ([]string, error) {
	if err := ctxErr(ctx, "by principal"); err != nil {
		return nil, err
	}
	if p == "" {
		return nil, nil
	}
	prefix := principalPrefix(p)
	var keys, stale []string
	err := s.db.View(func(tx *bbolt.Tx) error {
		now := s.clock()
		c := tx.Bucket(bucketPrincipals).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			key := string(k[len(prefix):])
			rec, err := get(tx, key)
			switch {
			case errors.Is(err, sessions.ErrNotFound):
				stale = append(stale, key)
			case err != nil:
				return err
			case rec.Principal != p:
				stale = append(stale, key)
			case rec.Live(now):
				keys = append(keys, key)
			default:
				stale = append(stale, key)
			}
		}
		return nil
	})
	if err != nil {
		return nil, wrap("by principal", err)
	}
	if len(stale) > 0 {
		if err := s.pruneStale(ctx, p, stale); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// pruneStale deletes the index entries listing keys under principal p whose
// record is (still) missing or names another principal, and the records
// under keys that are (still) expired, with their index entries.
func (s *Store) pruneStale(ctx context.Context, p string, keys []string) error {
	if err := ctxErr(ctx, "by principal"); err != nil {
		return err
	}
	return wrap("by principal: prune index", s.db.Update(func(tx *bbolt.Tx) error {
		idx := tx.Bucket(bucketPrincipals)
		now := s.clock()
		for _, key := range keys {
			rec, err := get(tx, key)
			switch {
			case err != nil && !errors.Is(err, sessions.ErrNotFound):
				continue // corrupt: leave it to the sweeper
			case err == nil && rec.Principal == p && rec.Live(now):
				continue // listed rightly
			case err == nil && rec.Principal == p:
				err = removeRecord(tx, key, indexOf(rec))
			default:
				err = idx.Delete(principalKey(p, key))
			}
			if err != nil {
				return err
			}
		}
		return nil
	}))
}
