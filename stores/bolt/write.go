package bolt

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Create stores rec under key and indexes it, in one write transaction. It
// returns sessions.ErrExists if key holds a live record; an expired record
// or a tombstone under key is replaced. rec is stored as given (even if already expired)
// and is encoded, not retained.
func (s *Store) Create(ctx context.Context, key string, rec *sessions.Record) error {
	if err := ctxErr(ctx, "create"); err != nil {
		return err
	}
	if rec == nil {
		return errors.New("bolt: create: nil record")
	}
	return wrap("create", s.update(func(tx *bbolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return refuse(err)
		}
		prev, err := vacate(tx, key, s.clock())
		if err != nil {
			return refuse(err)
		}
		if err := s.commit(ctx); err != nil {
			return refuse(err)
		}
		if _, err = putRecord(tx, key, rec, prev); err != nil {
			return err
		}
		return dropTombstone(tx, key)
	}))
}

// commit is the last check of every write, after its reads and before its
// first change: the BeforeCommit hook, then the deadline. A write refused
// here changed nothing. Once it has passed, the write and the commit of its
// group (and its fsync) may end after the deadline; the caller then gets
// success, which is true.
func (s *Store) commit(ctx context.Context) error {
	if s.beforeCommit != nil {
		s.beforeCommit(ctx)
	}
	return sessions.CheckDeadline(ctx)
}

// Apply writes d to the live record under key in one write transaction and
// returns the new Version. It returns sessions.ErrNotFound if there is no
// live record (an expired one is never revived; sessions.ErrReplaced on a
// live tombstone), then sessions.ErrConflict
// or sessions.ErrTooLarge as sessions.Delta describes; each leaves the
// record untouched. A nil d bumps the Version and changes nothing else.
func (s *Store) Apply(ctx context.Context, key string, d *sessions.Delta) (int64, error) {
	if err := ctxErr(ctx, "apply"); err != nil {
		return 0, err
	}
	var version int64
	err := s.update(func(tx *bbolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return refuse(err)
		}
		now := s.clock()
		rec, err := live(tx, key, now)
		if err != nil {
			return refuse(missing(tx, key, now, err))
		}
		prev := indexOf(rec)
		if err := applyDelta(rec, d); err != nil {
			return refuse(err)
		}
		if err := s.commit(ctx); err != nil {
			return refuse(err)
		}
		version = rec.Version
		_, err = putRecord(tx, key, rec, prev)
		return err
	})
	if err != nil {
		return 0, wrap("apply", err)
	}
	return version, nil
}

// Regenerate moves the live record under oldKey to newKey with d applied
// and the Version bumped, in one write transaction, and returns the new
// record; with a positive d.Tombstone, oldKey is left as a tombstone for
// that long. Errors are as for Apply, plus sessions.ErrExists if newKey
// holds another live record; on any error nothing is written. If newKey equals
// oldKey the record is updated in place.
func (s *Store) Regenerate(ctx context.Context, oldKey, newKey string, d *sessions.Delta) (*sessions.Record, error) {
	if err := ctxErr(ctx, "regenerate"); err != nil {
		return nil, err
	}
	var (
		enc   []byte
		moved details // the new record's, which enc leaves out
	)
	err := s.update(func(tx *bbolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return refuse(err)
		}
		now := s.clock()
		rec, err := live(tx, oldKey, now)
		if err != nil {
			return refuse(missing(tx, oldKey, now, err))
		}
		prevOld := indexOf(rec)
		if err := applyDelta(rec, d); err != nil {
			return refuse(err)
		}
		rec.Handle = ""
		if d != nil {
			rec.Handle = d.Handle
		}
		prev := prevOld // what putRecord replaces under newKey
		if newKey != oldKey {
			if prev, err = vacate(tx, newKey, now); err != nil {
				return refuse(err)
			}
		}
		if err := s.commit(ctx); err != nil {
			return refuse(err)
		}
		if newKey != oldKey {
			if err := removeRecord(tx, oldKey, prevOld); err != nil {
				return err
			}
			if d != nil && d.Tombstone > 0 {
				if err := putTombstone(tx, oldKey, now.Add(d.Tombstone)); err != nil {
					return err
				}
			}
			if err := dropTombstone(tx, newKey); err != nil {
				return err
			}
		}
		if enc, err = putRecord(tx, newKey, rec, prev); err != nil {
			return err
		}
		moved = detailsOf(rec)
		return nil
	})
	if err != nil {
		return nil, wrap("regenerate", err)
	}
	// The transaction is over, so enc is ours again: decode the caller's
	// copy from it rather than hand back slices of d.Set.
	rec, err := decodeRecord(enc)
	if err != nil {
		return nil, wrap("regenerate", err)
	}
	rec.Handle, rec.ClientIP, rec.UserAgent = moved.handle, moved.clientIP, moved.userAgent
	return rec, nil
}

// Delete removes the record (or tombstone) under key and its index entries
// in one write transaction. A missing key is not an error. A record that cannot be
// decoded is deleted all the same; its index entries are then dropped
// later, by the sweeper and ByPrincipal.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctxErr(ctx, "delete"); err != nil {
		return err
	}
	return wrap("delete", s.update(func(tx *bbolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return refuse(err)
		}
		rec, err := get(tx, key)
		if errors.Is(missing(tx, key, s.clock(), err), sessions.ErrReplaced) {
			return refuse(sessions.ErrReplaced) // the tombstone stays: see sessions.Store
		}
		if err := s.commit(ctx); err != nil {
			return refuse(err)
		}
		if err := dropTombstone(tx, key); err != nil {
			return err
		}
		switch {
		case errors.Is(err, sessions.ErrNotFound):
			return nil
		case errors.Is(err, ErrCorrupt):
			if err := tx.Bucket(bucketSessions).Delete([]byte(key)); err != nil {
				return err
			}
			return removeDetails(tx, key)
		case err != nil:
			return err
		}
		return removeRecord(tx, key, indexOf(rec))
	}))
}

// vacate readies key for a new record: it fails with sessions.ErrExists if
// key holds a record live at now, and otherwise returns the index entries
// of the expired record there (nil if none) for putRecord to replace.
func vacate(tx *bbolt.Tx, key string, now time.Time) (*indexEntry, error) {
	rec, err := get(tx, key)
	switch {
	case errors.Is(err, sessions.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	case rec.Live(now):
		return nil, sessions.ErrExists
	}
	return indexOf(rec), nil
}

// applyDelta checks d against rec and applies it, bumping the Version, or
// returns sessions.ErrConflict or sessions.ErrTooLarge. rec must be a
// private copy: its Attrs are changed in place, even on failure.
func applyDelta(rec *sessions.Record, d *sessions.Delta) error {
	if d == nil {
		d = &sessions.Delta{}
	}
	if d.BaseVersion > 0 && rec.Version != d.BaseVersion {
		return sessions.ErrConflict
	}
	if rec.Attrs == nil {
		rec.Attrs = make(map[string]json.RawMessage, len(d.Set))
	}
	d.ApplyTo(rec.Attrs)
	if d.MaxBytes > 0 && rec.Size() > d.MaxBytes {
		return sessions.ErrTooLarge
	}
	if d.Principal != nil {
		rec.Principal = *d.Principal
	}
	if !d.IdleExp.IsZero() {
		rec.IdleExp = d.IdleExp
	}
	rec.Version++
	return nil
}

// indexEntry is what the indexes (and the details bucket) hold for one
// stored record.
type indexEntry struct {
	principal string
	expiry    time.Time
	details   details
}

func indexOf(rec *sessions.Record) *indexEntry {
	return &indexEntry{principal: rec.Principal, expiry: rec.Expiry(), details: detailsOf(rec)}
}

// putRecord stores rec under key and moves its index entries from prev
// (those of the record it replaces; nil if none) to rec's, leaving an
// index bucket untouched when its entry does not change so the commit
// writes fewer pages. It returns the encoded record, which bbolt reads
// until the transaction ends.
func putRecord(tx *bbolt.Tx, key string, rec *sessions.Record, prev *indexEntry) ([]byte, error) {
	enc := encodeRecord(rec)
	if err := tx.Bucket(bucketSessions).Put([]byte(key), enc); err != nil {
		return nil, err
	}
	next := indexOf(rec)
	if prev == nil || !prev.expiry.Equal(next.expiry) {
		exp := tx.Bucket(bucketExpiry)
		if prev != nil {
			if err := exp.Delete(expiryKey(prev.expiry, key)); err != nil {
				return nil, err
			}
		}
		if err := exp.Put(expiryKey(next.expiry, key), nil); err != nil {
			return nil, err
		}
	}
	if prev == nil || prev.principal != next.principal {
		idx := tx.Bucket(bucketPrincipals)
		if prev != nil && prev.principal != "" {
			if err := idx.Delete(principalKey(prev.principal, key)); err != nil {
				return nil, err
			}
		}
		if next.principal != "" {
			if err := idx.Put(principalKey(next.principal, key), nil); err != nil {
				return nil, err
			}
		}
	}
	var prevDetails *details
	if prev != nil {
		prevDetails = &prev.details
	}
	if err := putDetails(tx, key, prevDetails, next.details); err != nil {
		return nil, err
	}
	return enc, nil
}

// removeRecord deletes the record under key and its index entries, given
// as prev.
func removeRecord(tx *bbolt.Tx, key string, prev *indexEntry) error {
	if err := tx.Bucket(bucketSessions).Delete([]byte(key)); err != nil {
		return err
	}
	if err := removeDetails(tx, key); err != nil {
		return err
	}
	if err := tx.Bucket(bucketExpiry).Delete(expiryKey(prev.expiry, key)); err != nil {
		return err
	}
	if prev.principal == "" {
		return nil
	}
	return tx.Bucket(bucketPrincipals).Delete(principalKey(prev.principal, key))
}
