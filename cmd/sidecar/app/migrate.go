package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/sessions"
	boltstore "github.com/sidecarproxy/sidecar/stores/bolt"
)

// migrateLockWait is how long `sidecar store migrate` waits for a bolt
// file another process holds before it gives up with ErrLocked.
const migrateLockWait = 3 * time.Second

// MigrationStores are the two stores `sidecar store migrate` copies
// between. Close them when done.
type MigrationStores struct {
	// From is the store sessions are copied from, opened so that it is
	// never written: a bolt file read-only, Redis only read (see
	// sessions.Lister).
	From sessions.Lister
	// To is the store they are copied into.
	To     sessions.Store
	mains  []*Main
	closed bool
}

// OpenMigration opens the stores of two configs for `sidecar store
// migrate`: from's for reading only, to's for writing. Only their store
// sections are used, as `sidecar serve` would use them (the bolt file,
// the Redis addresses, TLS, password, database and prefix); nothing is
// started. A bolt file a running Sidecar holds is refused after a few
// seconds with an error that says so (bolt.ErrLocked), a Redis that does
// not answer within store.timeout (at least two seconds) is an error, and
// so are the memory store (its sessions live in the Sidecar process) and
// two configs that name the same store.
func OpenMigration(ctx context.Context, from, to *config.Config) (_ *MigrationStores, err error) {
	if from.Store.Same(to.Store) {
		return nil, errors.New("--from and --to name the same store")
	}
	s := &MigrationStores{}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()
	src, err := s.open(ctx, "--from", from, true)
	if err != nil {
		return nil, err
	}
	lister, ok := src.(sessions.Lister)
	if !ok {
		return nil, fmt.Errorf("--from: the %s store cannot list its sessions", from.Store.Type)
	}
	s.From = lister
	if s.To, err = s.open(ctx, "--to", to, false); err != nil {
		return nil, err
	}
	return s, nil
}

// open opens the store of c (readOnly: for reading only), naming flag in
// its errors.
func (s *MigrationStores) open(ctx context.Context, flag string, c *config.Config, readOnly bool) (sessions.Store, error) {
	m, err := New(c, io.Discard)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	s.mains = append(s.mains, m)
	switch c.Store.Type {
	case config.StoreMemory:
		return nil, fmt.Errorf("%s: store.type memory: its sessions live in the Sidecar process that holds them; there is nothing to copy", flag)
	case config.StoreBolt:
		st, err := boltstore.Open(c.Store.Bolt.Path, boltstore.Options{
			ReadOnly:      readOnly,
			Timeout:       migrateLockWait,
			SweepInterval: c.Store.Bolt.SweepInterval,
			NoSync:        c.Store.Bolt.NoSync,
		})
		if errors.Is(err, boltstore.ErrLocked) {
			return nil, fmt.Errorf("%s: store.bolt.path %s is in use, most likely by a running Sidecar: stop it first (see docs/migrate.md): %w",
				flag, c.Store.Bolt.Path, err)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: store.bolt.path: %w", flag, err)
		}
		m.onClose(st.Close)
		return st, nil
	}
	st, client, err := m.openStore(ctx, c.Store, true) // preflight: builds the client, dials nothing
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if client != nil {
		ctx, cancel := context.WithTimeout(ctx, max(c.Store.Timeout, redisPingTimeout))
		defer cancel()
		if err := client.Ping(ctx).Err(); err != nil {
			return nil, fmt.Errorf("%s: store.redis.addrs %v: not answering: %w", flag, c.Store.Redis.Addrs, err)
		}
	}
	return st, nil
}

// Close closes both stores and their clients. It may be called more
// than once.
func (s *MigrationStores) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	var err error
	for _, m := range slices.Backward(s.mains) {
		err = errors.Join(err, m.closeAll())
	}
	return err
}
