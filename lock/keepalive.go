package lock

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// KeepAlive extends the lease while the work it protects runs: every third
// of its TTL (the one it was last granted or extended with) it extends it
// by that TTL again. It returns a context derived from ctx that is
// cancelled when the lease is lost, with a cause (context.Cause) wrapping
// ErrLost: an extension answered ErrNotHeld, or the validity ran out
// before an extension succeeded (failed extensions are retried every
// twelfth of the TTL until then). Run the protected work under that
// context.
//
// The returned cancel func stops the extensions and cancels the context;
// it returns once the goroutine KeepAlive started has exited, so a Release
// after it never races an extension. That goroutine also exits when ctx
// ends or the lease is lost. Stopping KeepAlive does not release the
// lease.
func (l *Lease) KeepAlive(ctx context.Context) (context.Context, context.CancelFunc) {
	kctx, cancel := context.WithCancelCause(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.keepAlive(kctx, cancel)
	}()
	return kctx, func() {
		cancel(context.Canceled)
		<-done
	}
}

// keepAlive is KeepAlive's loop; it returns when ctx is done, having
// cancelled it with ErrLost if the lease was lost.
func (l *Lease) keepAlive(ctx context.Context, lost context.CancelCauseFunc) {
	ttl := l.grantedTTL()
	every := max(ttl/3, time.Millisecond)
	retry := max(every/4, time.Millisecond)
	timer := time.NewTimer(every)
	defer timer.Stop()
	var last error
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		left := l.TTL()
		if left <= 0 {
			l.locker.stats.lost.Add(1)
			if last == nil {
				last = errors.New("the keeper ran too late to extend it (was the process paused?)")
			}
			lost(fmt.Errorf("%w: %q: validity ran out: %w", ErrLost, l.key, last))
			return
		}
		ectx, cancel := context.WithTimeout(ctx, left)
		err := l.Extend(ectx, ttl)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			last = nil
			timer.Reset(every)
		case errors.Is(err, ErrNotHeld):
			lost(fmt.Errorf("%w: %w", ErrLost, err))
			return
		default:
			last = err
			timer.Reset(min(retry, l.TTL()))
		}
	}
}
