package bolt

import (
	"context"
	"errors"
	"fmt"

	bberrors "go.etcd.io/bbolt/errors"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Errors specific to this store. The contract's own outcomes are reported
// with the sessions sentinels (sessions.ErrNotFound and the rest), returned
// unwrapped.
var (
	// ErrLocked: Open could not take the database file's lock within
	// Options.Timeout, usually because another process has the file open.
	ErrLocked = errors.New("bolt: database file is locked by another process")
	// ErrClosed: the Store was used after Close.
	ErrClosed = errors.New("bolt: store is closed")
	// ErrCorrupt: a stored record or the file's layout marker is truncated,
	// malformed, or in a format version this build does not know.
	ErrCorrupt = errors.New("bolt: corrupt or unsupported stored data")
)

// errRollback ends a write transaction that found nothing to write: bbolt
// commits (and fsyncs) even an empty transaction, but rolls this one back.
// It never leaves the package.
var errRollback = errors.New("bolt: nothing to write")

// wrap gives a failure of operation op its context. The contract's
// sentinels pass through untouched so callers see exactly
// sessions.ErrNotFound and friends; bbolt's "database not open" becomes
// ErrClosed; everything else is wrapped as "bolt: op: cause".
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sessions.ErrNotFound),
		errors.Is(err, sessions.ErrExists),
		errors.Is(err, sessions.ErrTooLarge),
		errors.Is(err, sessions.ErrConflict),
		errors.Is(err, sessions.ErrReplaced):
		return err
	case errors.Is(err, bberrors.ErrDatabaseNotOpen):
		return fmt.Errorf("bolt: %s: %w", op, ErrClosed)
	}
	return fmt.Errorf("bolt: %s: %w", op, err)
}

// ctxErr reports why ctx is done, wrapped for operation op, or nil.
func ctxErr(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("bolt: %s: %w", op, err)
	}
	return nil
}
