package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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
	if sameStore(from.Store, to.Store) {
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

// MigrationWarnings says what in to would log users out although their
// sessions were copied: session secrets that do not verify from's
// cookies, or another cookie name.
func MigrationWarnings(from, to *config.Config) []string {
	var w []string
	if signing := from.Session.SecretBytes(); len(signing) > 0 &&
		!slices.ContainsFunc(to.Session.SecretBytes(), func(b []byte) bool { return bytes.Equal(b, signing[0]) }) {
		w = append(w, "--to's session.secrets do not include --from's first one, which signs its cookies: "+
			"they will not verify there, and every user will be logged out all the same")
	}
	if from.Session.CookieName != to.Session.CookieName {
		w = append(w, fmt.Sprintf("--to's session.cookie_name %q is not --from's %q: the new Sidecar will not read the cookies browsers hold",
			to.Session.CookieName, from.Session.CookieName))
	}
	return w
}

// sameStore reports whether a and b name the same store: the same bolt
// file, or the same Redis addresses, database and prefix (a Redis reached
// by two spellings of its address is not detected; copying it onto itself
// finds every session there already and writes nothing).
func sameStore(a, b config.StoreConfig) bool {
	if a.Type != b.Type {
		return false
	}
	switch a.Type {
	case config.StoreBolt:
		fa, errA := os.Stat(a.Bolt.Path)
		fb, errB := os.Stat(b.Bolt.Path)
		if errA == nil && errB == nil {
			return os.SameFile(fa, fb)
		}
		pa, _ := filepath.Abs(a.Bolt.Path)
		pb, _ := filepath.Abs(b.Bolt.Path)
		return pa == pb
	case config.StoreRedis:
		return slices.Equal(a.Redis.Addrs, b.Redis.Addrs) && a.Redis.MasterName == b.Redis.MasterName &&
			a.Redis.DB == b.Redis.DB && a.Redis.Prefix == b.Redis.Prefix
	}
	return false
}
