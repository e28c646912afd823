package certstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sidecarproxy/sidecar/lock"
)

// Locker takes the leases behind the Storage's locks. *lock.Locker
// implements it: lock.NewRedis on the Storage's own client, or
// lock.NewRedlock. (lock.NewLocal would exclude only the goroutines of
// one process, which defeats sharing the storage.)
type Locker interface {
	Acquire(ctx context.Context, key string, ttl, wait time.Duration) (*lock.Lease, error)
}

var _ Locker = (*lock.Locker)(nil)

// hold is a lock the Storage holds: its lease and the keep-alive that
// extends it.
type hold struct {
	lease *lock.Lease
	// alive is KeepAlive's context: done, with cause lock.ErrLost, once
	// the lease is lost.
	alive context.Context
	// stop stops the keep-alive and returns once its goroutine has
	// exited.
	stop context.CancelFunc
}

// lockKey is the Locker's key for the certmagic lock name.
func lockKey(name string) string { return LockKeyPrefix + name }

// Lock takes the lock name, waiting while another holder has it, until it
// is obtained or ctx ends: certmagic's Lock. The lock is a lease of
// Options.LockTTL that the Storage extends every third of that TTL until
// Unlock (or Close), so certmagic may hold it for as long as issuance
// takes; when the holding process dies or loses Redis, the lease runs out
// and the lock is free at most LockTTL later. A waiter is woken by the
// release (or polls, per the Locker's options) and at the holder's
// expiry.
//
// Lock returns an error when ctx ends first (wrapping lock.ErrNotObtained
// and joined with ctx.Err()), when Redis has been failing for a whole
// LockTTL of waiting (wrapping lock.ErrUnavailable; certmagic retries the
// operation later), and ErrClosed after Close.
//
// Locks are per Storage and name: like certmagic's own storages, the
// Storage does not tell its callers apart, so Unlock(name) releases the
// lock whoever in this process took it.
func (s *Storage) Lock(ctx context.Context, name string) error {
	if s.isClosed() {
		return fmt.Errorf("certstore: locking %q: %w", name, ErrClosed)
	}
	for {
		lease, err := s.locker.Acquire(ctx, lockKey(name), s.opts.LockTTL, s.opts.LockTTL)
		if err == nil {
			return s.hold(ctx, name, lease)
		}
		if !contended(ctx, err) {
			return fmt.Errorf("certstore: locking %q: %w", name, err)
		}
	}
}

// TryLock takes the lock name if nobody holds it, without waiting:
// certmagic's TryLocker. It returns false and no error when another
// holder has it, and an error when Redis did not answer or ctx ended. A
// lock it takes is kept alive and released like one Lock took.
func (s *Storage) TryLock(ctx context.Context, name string) (bool, error) {
	if s.isClosed() {
		return false, fmt.Errorf("certstore: locking %q: %w", name, ErrClosed)
	}
	lease, err := s.locker.Acquire(ctx, lockKey(name), s.opts.LockTTL, 0)
	switch {
	case err == nil:
		return true, s.hold(ctx, name, lease)
	case contended(ctx, err):
		return false, nil
	}
	return false, fmt.Errorf("certstore: locking %q: %w", name, err)
}

// contended reports whether Acquire's err means only that another holder
// had the lock, ctx being still live.
func contended(ctx context.Context, err error) bool {
	return ctx.Err() == nil && errors.Is(err, lock.ErrNotObtained) && !errors.Is(err, lock.ErrUnavailable)
}

// hold records lease as the lock name and keeps it alive. The keep-alive
// runs detached from ctx (the lock outlives the call that took it) and
// its goroutine exits at Unlock, at Close or when the lease is lost.
func (s *Storage) hold(ctx context.Context, name string, lease *lock.Lease) error {
	alive, stop := lease.KeepAlive(context.WithoutCancel(ctx))
	h := &hold{lease: lease, alive: alive, stop: stop}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		h.end(ctx)
		return fmt.Errorf("certstore: locking %q: %w", name, ErrClosed)
	}
	old := s.held[name]
	s.held[name] = h
	s.mu.Unlock()
	if old != nil {
		// This Storage held name and was granted it again: the old lease
		// was lost (it ran out while its holder was paused, say). Its
		// keep-alive has stopped or is about to; make sure.
		old.stop()
	}
	return nil
}

// Unlock releases the lock name: certmagic's Unlock, called once the
// work under Lock or TryLock is done. It stops the keep-alive and
// releases the lease at once, so a waiter gets the lock without waiting
// for the TTL. It returns an error wrapping lock.ErrNotHeld when this
// Storage does not hold name (never locked, already unlocked, or released
// by Close) or when the lock was lost while held (its lease ran out; the
// error says so, and another instance may have done the same work), and
// for Redlock lock.ErrUnavailable when too few masters answered (the
// lease then ends at its expiry).
func (s *Storage) Unlock(ctx context.Context, name string) error {
	s.mu.Lock()
	h := s.held[name]
	delete(s.held, name)
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("certstore: unlocking %q: %w: this storage does not hold it", name, lock.ErrNotHeld)
	}
	if err := h.end(ctx); err != nil {
		return fmt.Errorf("certstore: unlocking %q: %w", name, err)
	}
	return nil
}

// end stops h's keep-alive and releases its lease. When the lease had
// been lost, the error says so.
func (h *hold) end(ctx context.Context) error {
	lost := context.Cause(h.alive)
	h.stop()
	err := h.lease.Release(ctx)
	if err != nil && errors.Is(lost, lock.ErrLost) {
		return fmt.Errorf("the lock was lost while held: %w", errors.Join(err, lost))
	}
	return err
}

// RenewLockLease checks, with a round trip to Redis, that the lock name
// is still held, and extends its lease by Options.LockTTL: certmagic's
// LockLeaseRenewer, which certmagic calls before each issuance attempt.
// The lease certmagic asks for (its retry interval plus the obtain
// timeout, up to hours) is not used: the Storage keeps the lease alive
// while the lock is held, and a lease of hours would block the fleet that
// long after the holder died. It returns an error wrapping
// lock.ErrNotHeld when this Storage does not hold name or the lease was
// lost.
func (s *Storage) RenewLockLease(ctx context.Context, name string, _ time.Duration) error {
	s.mu.Lock()
	h := s.held[name]
	s.mu.Unlock()
	if h == nil {
		return fmt.Errorf("certstore: renewing %q: %w: this storage does not hold it", name, lock.ErrNotHeld)
	}
	if err := h.lease.Extend(ctx, s.opts.LockTTL); err != nil {
		if lost := context.Cause(h.alive); lost != nil {
			err = errors.Join(err, lost)
		}
		return fmt.Errorf("certstore: renewing %q: %w", name, err)
	}
	return nil
}

// Close releases every lock the Storage holds, stopping their
// keep-alives, and makes later Lock and TryLock calls fail with
// ErrClosed; call it before closing the Locker and the client. Store,
// Load and the other storage methods keep working. Each release is
// bounded by Options.LockTTL (by then the lease has run out anyway).
// Close returns the errors of the releases; closing again does nothing.
func (s *Storage) Close() error {
	s.mu.Lock()
	s.closed = true
	held := s.held
	s.held = make(map[string]*hold)
	s.mu.Unlock()
	var errs []error
	for name, h := range held {
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.LockTTL)
		if err := h.end(ctx); err != nil {
			errs = append(errs, fmt.Errorf("certstore: releasing %q: %w", name, err))
		}
		cancel()
	}
	return errors.Join(errs...)
}

// isClosed reports whether Close was called.
func (s *Storage) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
