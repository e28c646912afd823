package memory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
)

// DefaultSweepInterval is how often expired records are dropped when
// Options.SweepInterval is zero.
const DefaultSweepInterval = time.Minute

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Clock returns the current time; records are live while it is before
	// their IdleExp and AbsExp. Nil means time.Now.
	Clock func() time.Time
	// SweepInterval is how often the sweeper drops expired records and
	// tombstones from memory (they are invisible from the moment they
	// expire either way). Zero means DefaultSweepInterval.
	SweepInterval time.Duration
	// BeforeCommit, when set, is called by every write (Create, Apply,
	// Regenerate, Delete) on the writing goroutine, holding the store's
	// lock, right before its last deadline check and commit. It exists for
	// fault injection in tests (a hook that blocks past the deadline is a
	// stalled store); leave it nil otherwise.
	BeforeCommit func(ctx context.Context)
}

// Store is an in-memory sessions.Store. Create one with New and Close it
// when done to stop its sweeper goroutine. A Store is safe for concurrent
// use.
type Store struct {
	clock        func() time.Time
	beforeCommit func(ctx context.Context)

	mu         sync.Mutex
	records    map[string]*sessions.Record    // by key; values never escape
	principals map[string]map[string]struct{} // principal -> keys of its records
	handles    map[string]string              // Record.Handle -> key of its record
	tombstones map[string]time.Time           // regenerated-away key -> end of its tombstone

	stop      chan struct{} // closed by Close to stop the sweeper
	done      chan struct{} // closed by the sweeper when it exits
	closeOnce sync.Once
}

var (
	_ sessions.Store     = (*Store)(nil)
	_ sessions.Inventory = (*Store)(nil)
)

// New returns an empty Store and starts its sweeper goroutine, which runs
// until Close. A Store that is never closed keeps that goroutine, and so
// itself, alive until the process exits.
func New(opts Options) *Store {
	s := &Store{
		clock:        opts.Clock,
		beforeCommit: opts.BeforeCommit,
		records:      make(map[string]*sessions.Record),
		principals:   make(map[string]map[string]struct{}),
		handles:      make(map[string]string),
		tombstones:   make(map[string]time.Time),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	interval := opts.SweepInterval
	if interval <= 0 {
		interval = DefaultSweepInterval
	}
	go s.sweepLoop(interval)
	return s
}

// Close stops the sweeper goroutine and waits for it to exit. The Store
// keeps working after Close (expired records are still invisible; they are
// just no longer dropped from memory in the background). Close is
// idempotent and always returns nil.
func (s *Store) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

// Load returns a copy of the live record under key, or ErrNotFound
// (ErrReplaced on a live tombstone). With a non-nil touch it slides IdleExp
// first, as sessions.Touch describes.
func (s *Store) Load(ctx context.Context, key string, touch *sessions.Touch) (*sessions.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: load: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.live(key)
	if rec == nil {
		return nil, s.missing(key)
	}
	if touch != nil && rec.IdleExp.Before(touch.Before) {
		rec.IdleExp = touch.IdleExp
	}
	return cloneRecord(rec), nil
}

// Create stores a copy of rec under key and indexes its principal. It
// returns ErrExists if key holds a live record; an expired one, or a
// tombstone, is replaced.
func (s *Store) Create(ctx context.Context, key string, rec *sessions.Record) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: create: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live(key) != nil {
		return sessions.ErrExists
	}
	if err := s.commit(ctx); err != nil {
		return fmt.Errorf("memory: create: %w", err)
	}
	delete(s.tombstones, key)
	s.put(key, cloneRecord(rec))
	return nil
}

// Apply writes d to the live record under key and returns the new Version.
// It returns ErrNotFound (ErrReplaced on a live tombstone), ErrConflict or
// ErrTooLarge, writing nothing, as sessions.Store describes.
func (s *Store) Apply(ctx context.Context, key string, d *sessions.Delta) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory: apply: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.live(key)
	if rec == nil {
		return 0, s.missing(key)
	}
	next, err := d.Applied(rec)
	if err != nil {
		return 0, err
	}
	if err := s.commit(ctx); err != nil {
		return 0, fmt.Errorf("memory: apply: %w", err)
	}
	s.put(key, next)
	return next.Version, nil
}

// Regenerate moves the live record under oldKey to newKey with d applied
// and returns a copy of it, leaving a tombstone under oldKey when
// d.Tombstone is positive. It returns ErrNotFound (or ErrReplaced),
// ErrConflict or ErrTooLarge as Apply does, and ErrExists if newKey already
// holds a live record; on any error both keys are left as they were.
func (s *Store) Regenerate(ctx context.Context, oldKey, newKey string, d *sessions.Delta) (*sessions.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: regenerate: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec := s.live(oldKey)
	if rec == nil {
		return nil, s.missing(oldKey)
	}
	next, err := d.Regenerated(rec)
	if err != nil {
		return nil, err
	}
	if s.live(newKey) != nil {
		return nil, sessions.ErrExists
	}
	if err := s.commit(ctx); err != nil {
		return nil, fmt.Errorf("memory: regenerate: %w", err)
	}
	s.remove(oldKey)
	if d.Tombstone > 0 && oldKey != newKey {
		s.tombstones[oldKey] = s.clock().Add(d.Tombstone)
	}
	delete(s.tombstones, newKey)
	s.put(newKey, next)
	return cloneRecord(next), nil
}

// Delete removes the record or tombstone under key and its principal index
// entry. Deleting a missing key is not an error.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: delete: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live(key) == nil && errors.Is(s.missing(key), sessions.ErrReplaced) {
		return sessions.ErrReplaced // the tombstone stays: see sessions.Store
	}
	if err := s.commit(ctx); err != nil {
		return fmt.Errorf("memory: delete: %w", err)
	}
	s.remove(key)
	delete(s.tombstones, key)
	return nil
}

// ByPrincipal lists the keys of the live records whose principal is p, in
// no particular order, dropping expired records it comes across.
func (s *Store) ByPrincipal(ctx context.Context, p string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory: by principal: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for key := range s.principals[p] {
		if s.live(key) != nil {
			keys = append(keys, key)
		}
	}
	return keys, nil
}

// live returns the stored record under key if it is live, dropping it if it
// has expired. s.mu must be held.
func (s *Store) live(key string) *sessions.Record {
	rec, ok := s.records[key]
	if !ok {
		return nil
	}
	if !rec.Live(s.clock()) {
		s.remove(key)
		return nil
	}
	return rec
}

// missing is the error for a key without a live record: ErrReplaced while
// a tombstone lasts, else ErrNotFound (dropping a lapsed tombstone). s.mu
// must be held.
func (s *Store) missing(key string) error {
	until, ok := s.tombstones[key]
	if !ok {
		return sessions.ErrNotFound
	}
	if s.clock().Before(until) {
		return sessions.ErrReplaced
	}
	delete(s.tombstones, key)
	return sessions.ErrNotFound
}

// commit is a write's last step before it changes anything: the
// BeforeCommit hook, then the deadline check. s.mu must be held.
func (s *Store) commit(ctx context.Context) error {
	if s.beforeCommit != nil {
		s.beforeCommit(ctx)
	}
	return sessions.CheckDeadline(ctx)
}

// put stores rec, which the Store then owns, under key and indexes its
// principal and handle, replacing any record there. s.mu must be held.
func (s *Store) put(key string, rec *sessions.Record) {
	s.remove(key)
	s.records[key] = rec
	if rec.Handle != "" {
		s.handles[rec.Handle] = key
	}
	if rec.Principal == "" {
		return
	}
	keys := s.principals[rec.Principal]
	if keys == nil {
		keys = make(map[string]struct{})
		s.principals[rec.Principal] = keys
	}
	keys[key] = struct{}{}
}

// remove drops the record under key, if any, and its index entries.
// s.mu must be held.
func (s *Store) remove(key string) {
	rec, ok := s.records[key]
	if !ok {
		return
	}
	delete(s.records, key)
	if s.handles[rec.Handle] == key {
		delete(s.handles, rec.Handle)
	}
	if keys := s.principals[rec.Principal]; keys != nil {
		delete(keys, key)
		if len(keys) == 0 {
			delete(s.principals, rec.Principal)
		}
	}
}

// cloneRecord returns a deep copy of r.
func cloneRecord(r *sessions.Record) *sessions.Record {
	c := *r
	c.Attrs = cloneAttrs(r.Attrs)
	return &c
}

// cloneAttrs returns a deep copy of attrs; nil gives an empty map.
func cloneAttrs(attrs map[string]json.RawMessage) map[string]json.RawMessage {
	c := make(map[string]json.RawMessage, len(attrs))
	for k, v := range attrs {
		c[k] = slices.Clone(v)
	}
	return c
}
