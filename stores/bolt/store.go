package bolt

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/sidecarproxy/sidecar/sessions"
)

var _ sessions.Store = (*Store)(nil)

// Store is a sessions.Store kept in one bbolt file. It is safe for
// concurrent use; create it with Open and release it with Close.
type Store struct {
	db           *bbolt.DB
	clock        func() time.Time
	onSweepError func(error)
	beforeCommit func(ctx context.Context)
	group        group // the writes' group commit (group.go)

	stop      chan struct{} // closed by Close to stop the sweeper
	done      chan struct{} // closed by the sweeper when it has returned
	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating it if needed, with mode 0600) the database file at
// path and starts the sweeper unless opts.SweepInterval is negative; with
// opts.ReadOnly it opens an existing file for reading only (see Options).
//
// It fails with an error wrapping ErrLocked if another process (or another
// open Store in this one) holds the file past opts.Timeout, and with one
// wrapping ErrCorrupt if the file was written with a bucket layout this
// build does not know. Other failures (not a bbolt file, permissions) are
// returned wrapped.
func Open(path string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:      opts.Timeout,
		NoSync:       opts.NoSync,
		FreelistType: bbolt.FreelistMapType,
		ReadOnly:     opts.ReadOnly,
	})
	if errors.Is(err, bberrors.ErrTimeout) {
		return nil, fmt.Errorf("bolt: open %s: %w (waited %s)", path, ErrLocked, opts.Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	layout := db.Update
	if opts.ReadOnly {
		layout, opts.SweepInterval = db.View, -1
	}
	if err := layout(initLayout); err != nil {
		return nil, errors.Join(fmt.Errorf("bolt: open %s: %w", path, err), db.Close())
	}
	s := &Store{
		db:           db,
		clock:        opts.Clock,
		onSweepError: opts.OnSweepError,
		beforeCommit: opts.BeforeCommit,
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	if opts.SweepInterval > 0 {
		go s.sweepLoop(opts.SweepInterval)
	} else {
		close(s.done)
	}
	return s, nil
}

// initLayout creates the buckets of a new file and checks the layout
// marker of an existing one. In a read-only transaction it only checks:
// the marker and the buckets every layout 1 file has must be there; the
// buckets later builds added are read as empty when missing.
func initLayout(tx *bbolt.Tx) error {
	if !tx.Writable() {
		for _, name := range [][]byte{bucketMeta, bucketSessions, bucketPrincipals, bucketExpiry} {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("%w: no %s bucket (not a Sidecar session file?)", ErrCorrupt, name)
			}
		}
		if v := tx.Bucket(bucketMeta).Get(layoutKey); len(v) != 1 || v[0] != layoutV1 {
			return fmt.Errorf("%w: unknown layout %x", ErrCorrupt, v)
		}
		return nil
	}
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	switch v := meta.Get(layoutKey); {
	case v == nil:
		if err := meta.Put(layoutKey, []byte{layoutV1}); err != nil {
			return err
		}
	case len(v) != 1 || v[0] != layoutV1:
		return fmt.Errorf("%w: unknown layout %x", ErrCorrupt, v)
	}
	for _, name := range [][]byte{bucketSessions, bucketPrincipals, bucketExpiry, bucketTombstones, bucketDetails, bucketHandles} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// Close stops the sweeper, waiting for a sweep in progress to finish its
// current transaction, then closes the file, waiting for transactions in
// flight. Later calls return the first call's result. Methods called after
// Close fail with ErrClosed.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("bolt: close: %w", err)
		}
	})
	return s.closeErr
}
