package sessions

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Inventory is what an operator's view of the sessions needs from a
// Store beyond Store itself: a session found by its public handle, and
// the number of live sessions. Every store in this repository implements
// it, and storetest.Run checks it for any store that does. The Manager's
// operator methods (List, RevokePrincipal, RevokeHandle, Count) need it.
type Inventory interface {
	// ByHandle returns the key of the live record whose Handle is h, or
	// ErrNotFound (also for "", and for a handle a Regenerate or Delete
	// retired).
	ByHandle(ctx context.Context, h string) (string, error)
	// Count counts the live records. A store that can only estimate it
	// cheaply says so (Count.Approximate) and documents how it errs.
	Count(ctx context.Context) (Count, error)
}

// Count is a store's count of its live sessions.
type Count struct {
	// Live is the number of live sessions.
	Live int64
	// Approximate is true when Live is an estimate (the Redis store's is:
	// see its package comment).
	Approximate bool
}

// ErrNoInventory: the Manager's store does not implement Inventory.
var ErrNoInventory = errors.New("sessions: the store cannot list, find or count sessions")

// MaxListed is the most sessions List describes; it reports how many
// more the principal has.
const MaxListed = 1000

// maxRevokeRounds bounds RevokePrincipal's passes over the index: a pass
// finds sessions a regenerate moved while the one before ran.
const maxRevokeRounds = 5

// Info describes one live session for an operator. It never holds the
// session's data, token or store key.
type Info struct {
	// Handle is the public handle (the sid apps see); "" for a session
	// written before handles were stored, which RevokeHandle cannot find.
	Handle    string
	Principal string
	Created   time.Time
	// LastSeen is when a request last slid the idle expiry: IdleExp less
	// the idle timeout, so it is late by up to Options.TouchInterval, and
	// wrong if the idle timeout changed since.
	LastSeen time.Time
	IdleExp  time.Time
	AbsExp   time.Time
	// ClientIP and UserAgent are those of the request that created the
	// session; "" when unknown.
	ClientIP  string
	UserAgent string
}

// ValidHandle reports whether h has the form of a session handle (see
// Token.SID): 32 lower-case hex digits.
func ValidHandle(h string) bool {
	if len(h) != 32 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// inventory is the store's Inventory, or ErrNoInventory.
func (m *Manager) inventory() (Inventory, error) {
	inv, ok := m.opts.Store.(Inventory)
	if !ok {
		return nil, ErrNoInventory
	}
	return inv, nil
}

// op runs one store operation for an operator call under the store
// timeout, classifying its error as storeErr does.
func (m *Manager) op(ctx context.Context, name string, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, m.opts.StoreTimeout)
	defer cancel()
	if err := fn(ctx); err != nil {
		return storeErr(name, err)
	}
	return nil
}

// List describes the live sessions of principal p, oldest first: at most
// MaxListed of them (which ones, when p has more, is unspecified), and
// the number the principal has in all. Each session costs one store read
// (without touching it). Errors are ErrStoreUnavailable (wrapped).
func (m *Manager) List(ctx context.Context, p string) ([]Info, int, error) {
	var keys []string
	if err := m.op(ctx, "by principal", func(ctx context.Context) (err error) {
		keys, err = m.opts.Store.ByPrincipal(ctx, p)
		return err
	}); err != nil {
		return nil, 0, err
	}
	infos := make([]Info, 0, min(len(keys), MaxListed))
	for _, key := range keys[:min(len(keys), MaxListed)] {
		var rec *Record
		err := m.op(ctx, "load", func(ctx context.Context) (err error) {
			rec, err = m.opts.Store.Load(ctx, key, nil)
			return err
		})
		switch {
		case errors.Is(err, ErrNotFound), errors.Is(err, ErrReplaced):
			continue // gone since it was listed
		case err != nil:
			return nil, 0, err
		}
		infos = append(infos, m.info(rec))
	}
	slices.SortFunc(infos, func(a, b Info) int {
		return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Handle, b.Handle))
	})
	return infos, max(len(keys), len(infos)), nil
}

// info describes rec.
func (m *Manager) info(rec *Record) Info {
	seen := rec.IdleExp.Add(-m.opts.IdleTimeout)
	if now := m.now(); seen.After(now) {
		seen = now
	}
	if seen.Before(rec.Created) {
		seen = rec.Created
	}
	return Info{
		Handle: rec.Handle, Principal: rec.Principal, Created: rec.Created, LastSeen: seen,
		IdleExp: rec.IdleExp, AbsExp: rec.AbsExp, ClientIP: rec.ClientIP, UserAgent: rec.UserAgent,
	}
}

// RevokePrincipal deletes every live session of principal p (log out
// everywhere) and returns how many it deleted. A revoke is a logout, not
// a replacement: it leaves no tombstone, so a revoked cookie is simply
// anonymous and its next write starts a new session, and a write racing
// the revoke finds the session gone and is dropped (no store recreates a
// deleted session). A session a regenerate moved while the revoke ran
// (Delete answering ErrReplaced) is found under its new key by the next
// pass over the index; passes repeat until one finds nothing, at most
// five times, so a session created by a login after the revoke started
// may be revoked too or survive. Errors are ErrStoreUnavailable
// (wrapped), with the count of sessions deleted before it.
func (m *Manager) RevokePrincipal(ctx context.Context, p string) (int, error) {
	n := 0
	for range maxRevokeRounds {
		var keys []string
		if err := m.op(ctx, "by principal", func(ctx context.Context) (err error) {
			keys, err = m.opts.Store.ByPrincipal(ctx, p)
			return err
		}); err != nil {
			return n, err
		}
		if len(keys) == 0 {
			return n, nil
		}
		for _, key := range keys {
			err := m.op(ctx, "delete", func(ctx context.Context) error {
				return m.opts.Store.Delete(ctx, key)
			})
			switch {
			case err == nil:
				n++
			case errors.Is(err, ErrReplaced):
				// Moved by a regenerate: the next pass finds its new key.
			default:
				return n, err
			}
		}
	}
	return n, nil
}

// RevokeHandle deletes the live session whose handle is h, leaving no
// tombstone (see RevokePrincipal). It returns ErrNotFound when no live
// session has that handle, and ErrReplaced when a regenerate moved the
// session to a new token (and handle) while it ran: list the principal's
// sessions again to find it. Other errors are ErrNoInventory and
// ErrStoreUnavailable (wrapped).
func (m *Manager) RevokeHandle(ctx context.Context, h string) error {
	if !ValidHandle(h) {
		return ErrNotFound
	}
	inv, err := m.inventory()
	if err != nil {
		return err
	}
	var key string
	if err := m.op(ctx, "by handle", func(ctx context.Context) (err error) {
		key, err = inv.ByHandle(ctx, h)
		return err
	}); err != nil {
		return err
	}
	err = m.op(ctx, "delete", func(ctx context.Context) error {
		return m.opts.Store.Delete(ctx, key)
	})
	if errors.Is(err, ErrReplaced) {
		return fmt.Errorf("session %s was regenerated while being revoked: %w", h, err)
	}
	return err
}

// Count returns the store's count of live sessions. Errors are
// ErrNoInventory and ErrStoreUnavailable (wrapped).
func (m *Manager) Count(ctx context.Context) (Count, error) {
	inv, err := m.inventory()
	if err != nil {
		return Count{}, err
	}
	var c Count
	err = m.op(ctx, "count", func(ctx context.Context) (err error) {
		c, err = inv.Count(ctx)
		return err
	})
	return c, err
}
