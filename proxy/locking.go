package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"time"

	"github.com/sidecarproxy/sidecar/lock"
)

// SessionLocker takes the lock that serialises one session's requests.
// *lock.Locker implements it.
type SessionLocker interface {
	Acquire(ctx context.Context, key string, ttl, wait time.Duration) (*lock.Lease, error)
}

var _ SessionLocker = (*lock.Locker)(nil)

// OnLockTimeout says what happens to a request that waited
// Locking.Wait without getting its session's lock.
type OnLockTimeout string

// Lock timeout behaviours.
const (
	// RejectOnTimeout answers 503 with Retry-After (the default).
	RejectOnTimeout OnLockTimeout = "reject"
	// ProceedOnTimeout serves the request without the lock, logged;
	// its write is still guarded by the session version.
	ProceedOnTimeout OnLockTimeout = "proceed"
)

// Validate reports whether o is one of the lock timeout behaviours. "" is
// not one: Locking reads it as RejectOnTimeout before it validates. The
// error names the value and the accepted ones, without context, for the
// caller to prefix with the field or configuration key.
func (o OnLockTimeout) Validate() error {
	switch o {
	case RejectOnTimeout, ProceedOnTimeout:
		return nil
	}
	return fmt.Errorf("%q is not one of %s, %s", string(o), RejectOnTimeout, ProceedOnTimeout)
}

// Locking serialises all requests of one session across every Sidecar
// sharing the lock backend. A request with a verified cookie takes the
// session's lock before the session is loaded, keeps it extended while
// the app works, and releases it once its write is persisted; its write is
// also conditional on the version it loaded, so a lease that expired
// mid-request becomes a 409 conflict, never a silent lost update. Requests
// without a session never lock. The zero value of each field but Locker is
// its stated default.
type Locking struct {
	// Locker takes the locks; nil disables session locking.
	Locker SessionLocker
	// Wait bounds the wait for the lock; 0 means DefaultLockWait (5s).
	Wait time.Duration
	// TTL is the lease, extended while the app works; 0 means
	// DefaultLockTTL (30s).
	TTL time.Duration
	// OnTimeout: "" means RejectOnTimeout.
	OnTimeout OnLockTimeout
	// SkipPaths are path.Match patterns that never lock (static assets,
	// long polls).
	SkipPaths []string
}

func (l Locking) withDefaults() (Locking, error) {
	if l.Wait <= 0 {
		l.Wait = DefaultLockWait
	}
	if l.TTL <= 0 {
		l.TTL = DefaultLockTTL
	}
	if l.OnTimeout == "" {
		l.OnTimeout = RejectOnTimeout
	}
	if err := l.OnTimeout.Validate(); err != nil {
		return l, fmt.Errorf("proxy: lock timeout behaviour: %w", err)
	}
	for _, p := range l.SkipPaths {
		if _, err := path.Match(p, ""); err != nil {
			return l, fmt.Errorf("proxy: skip path %q: %w", p, err)
		}
	}
	return l, nil
}

// errLockTimeout: the session's lock stayed held by another request for
// the whole wait. A 503 with Retry-After.
var errLockTimeout = errors.New("proxy: timed out waiting for the session lock")

// sessionLockPrefix keeps session locks apart from the app lock service's
// names.
const sessionLockPrefix = "session:"

func (l *Locking) skip(p string) bool {
	for _, pat := range l.SkipPaths {
		if ok, _ := path.Match(pat, p); ok {
			return true
		}
	}
	return false
}

// lockSession takes the session's lock for r when locking applies, and
// arranges its extension and release. It returns an error only when the
// request must not proceed.
func (p *Proxy) lockSession(r *http.Request, st *reqState) error {
	if p.locking.Locker == nil { // off: not even the key is computed
		return nil
	}
	key := st.sess.LockKey()
	if key == "" || p.locking.skip(r.URL.Path) {
		return nil
	}
	start := time.Now()
	lease, err := p.locking.Locker.Acquire(r.Context(), sessionLockPrefix+key, p.locking.TTL, p.locking.Wait)
	st.lockWait = time.Since(start)
	switch {
	case err == nil:
	case errors.Is(err, lock.ErrNotObtained) && !errors.Is(err, lock.ErrUnavailable) && r.Context().Err() == nil:
		if p.locking.OnTimeout == ProceedOnTimeout {
			st.lockState = "timeout_proceeded"
			st.sess.GuardVersion()
			return nil
		}
		st.lockState = "timeout"
		return errLockTimeout
	default:
		st.lockState = "unavailable"
		return fmt.Errorf("%w: %w", errLockUnavailable, err)
	}
	st.lockState = "held"
	st.sess.GuardVersion()
	lost, stop := lease.KeepAlive(context.WithoutCancel(r.Context()))
	st.unlock = func() {
		stop()
		if errors.Is(context.Cause(lost), lock.ErrLost) {
			st.lockState = "lost"
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), p.locking.Wait)
		defer cancel()
		if err := releaseRetrying(ctx, lease); err != nil {
			p.log.Warn().Str("request_id", st.id).Err(err).Msg("releasing the session lock failed; it expires with its lease")
		}
	}
	return nil
}

// releaseAttempts bounds releaseRetrying.
const releaseAttempts = 3

// releaseRetrying releases lease, trying again (after 50ms, then 100ms)
// when the lock backend did not answer: a lock left to expire holds up
// every later request of the session for the rest of its lease (30s by
// default), and a release is safe to repeat (it only ever removes this
// lease's token). A lease already gone is not an error.
func releaseRetrying(ctx context.Context, lease *lock.Lease) error {
	for attempt := 1; ; attempt++ {
		err := lease.Release(ctx)
		if err == nil || errors.Is(err, lock.ErrNotHeld) {
			return nil
		}
		if attempt == releaseAttempts || ctx.Err() != nil {
			return err
		}
		t := time.NewTimer(time.Duration(attempt) * 50 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// errLockUnavailable: the lock backend could not be reached.
var errLockUnavailable = errors.New("proxy: session lock backend unavailable")

// releaseLock releases the session lock if this request holds it. It runs
// once the write is persisted, and again (as a no-op) when the request
// ends.
func (st *reqState) releaseLock() {
	if st.unlock != nil {
		u := st.unlock
		st.unlock = nil
		u()
	}
}
