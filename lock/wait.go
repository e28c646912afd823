package lock

import (
	"context"
	"math/rand/v2"
	"time"
)

// await is Acquire after a first attempt failed (first and firstErr are
// its outcome): it waits for the lock until deadline or ctx's end.
//
// With notify set it registers for key's release notifications before its
// next attempt, which it makes at once. That closes the race with a
// release landing between the first attempt and the registration: such a
// release is seen by the next attempt, and any later one is announced to
// the registered waiter (the notifier also wakes every waiter when its
// subscription is confirmed, so releases published before that are not
// missed either). Between attempts it sleeps until the first of: a
// notification, the holder's known expiry, a jittered poll interval
// growing from RetryMin to RetryMax, the wait bound, or ctx's end. A final
// attempt is made at the wait bound.
func (l *Locker) await(ctx context.Context, key string, ttl time.Duration, deadline time.Time, notify bool, first grant, firstErr error) (*Lease, error) {
	start := time.Now()
	if !start.Before(deadline) { // the first attempt took the whole bound
		l.stats.notObtained.Add(1)
		return nil, notObtained(ctx, key, firstErr)
	}
	l.stats.waited.Add(1)
	defer func() { l.stats.waitTime.Add(int64(time.Since(start))) }()

	var wake <-chan struct{} // nil, never ready, without notifications
	if notify {
		w := l.wait.add(key)
		defer l.wait.remove(w)
		l.b.watch()
		wake = w.ch
	}

	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	backoff := l.opts.RetryMin
	hint, last := first.retryIn, firstErr
	waiting := false
	defer func() {
		if waiting {
			l.stats.waiting.Add(-1)
		}
	}()
	for tryNow := notify; ; tryNow = false {
		if !tryNow {
			if !waiting {
				waiting = true
				l.stats.waiting.Add(1)
			}
			d := jitter(backoff)
			backoff = min(2*backoff, l.opts.RetryMax)
			if hint > 0 && hint < d {
				d = hint
			}
			d = min(d, time.Until(deadline))
			timer.Reset(d)
			select {
			case <-ctx.Done():
				l.stats.notObtained.Add(1)
				return nil, notObtained(ctx, key, last)
			case <-wake:
				l.stats.notified.Add(1)
			case <-timer.C:
			}
		}
		g, err := l.attempt(ctx, key, ttl, notify)
		if err == nil && g.ok {
			return l.granted(key, ttl, g), nil
		}
		last, hint = err, g.retryIn
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			l.stats.notObtained.Add(1)
			return nil, notObtained(ctx, key, last)
		}
	}
}

// jitter returns a duration between d/2 and d, so that waiters that began
// together do not poll together.
func jitter(d time.Duration) time.Duration {
	half := d / 2
	return half + rand.N(d-half+1)
}
