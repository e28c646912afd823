package lock

import (
	"context"
	"errors"
	"fmt"
)

// Errors callers branch on, with errors.Is. The errors the package returns
// wrap them with the key and the cause.
var (
	// ErrNotObtained is returned by Acquire when the lock was not taken
	// within its wait bound or before ctx ended. When the last attempt
	// failed for a reason other than another holder, that reason is
	// wrapped too (ErrUnavailable, a Redis error); when ctx ended,
	// ctx.Err() is joined in.
	ErrNotObtained = errors.New("lock: not obtained")
	// ErrNotHeld is returned by Extend and Release when the token does
	// not hold a live lease on the key: it expired, was released, or
	// another holder has the lock now.
	ErrNotHeld = errors.New("lock: not held")
	// ErrUnavailable means too few Redis servers answered to reach a
	// quorum: a majority of the masters for Redlock, the one server for a
	// single instance. The error wrapping it says how many answered and
	// why the others did not. A lease whose Extend or Release returned it
	// may still be held.
	ErrUnavailable = errors.New("lock: too few Redis servers answered")
	// ErrLost is the cause (context.Cause) of the context KeepAlive
	// returns once the lease is lost: an extension found it not held, or
	// its validity ran out before one succeeded.
	ErrLost = errors.New("lock: lease lost")
)

// withCtx joins ctx.Err() into err when ctx is done and err does not
// already say so, so callers can tell a blown deadline with errors.Is.
func withCtx(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		return errors.Join(err, ctxErr)
	}
	return err
}

// notObtained is Acquire's error for key: last is why the final attempt
// failed, nil when another holder had the lock.
func notObtained(ctx context.Context, key string, last error) error {
	var err error
	if last == nil {
		err = fmt.Errorf("%w: %q is held by another", ErrNotObtained, key)
	} else {
		err = fmt.Errorf("%w: %q: %w", ErrNotObtained, key, last)
	}
	return withCtx(ctx, err)
}
