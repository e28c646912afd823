package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/sidecarproxy/sidecar/sessions"
)

// ByHandle returns the key of the live record whose Handle is h, or
// sessions.ErrNotFound.
func (s *Store) ByHandle(ctx context.Context, h string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("memory: by handle: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.handles[h]
	if !ok || h == "" || s.live(key) == nil {
		return "", sessions.ErrNotFound
	}
	return key, nil
}

// Count counts the live records, exactly, dropping expired ones it comes
// across. It takes time proportional to the number of records held.
func (s *Store) Count(ctx context.Context) (sessions.Count, error) {
	if err := ctx.Err(); err != nil {
		return sessions.Count{}, fmt.Errorf("memory: count: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for key := range s.records {
		if s.live(key) != nil {
			n++
		}
	}
	return sessions.Count{Live: n}, nil
}

// PrincipalIndexLen is the number of entries principal p's index holds,
// stale ones included: a diagnostic for tests, which check that the
// index does not outgrow the sessions it lists.
func (s *Store) PrincipalIndexLen(ctx context.Context, p string) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("memory: principal index length: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.principals[p]), nil
}

var _ sessions.Lister = (*Store)(nil)

// Each calls fn with a copy of each live record. It takes the keys held
// when it starts, then reads each record under the mutex on its own and
// calls fn without holding it (so fn may use the store): a record deleted
// since is skipped, and one created since is not passed. It changes
// nothing, not even an expired record it meets. See sessions.Lister.
func (s *Store) Each(ctx context.Context, fn func(key string, rec *sessions.Record, err error) error) error {
	s.mu.Lock()
	keys := slices.Collect(maps.Keys(s.records))
	s.mu.Unlock()
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("memory: each: %w", err)
		}
		s.mu.Lock()
		rec, ok := s.records[key]
		if ok && rec.Live(s.clock()) {
			rec = cloneRecord(rec)
		} else {
			rec = nil
		}
		s.mu.Unlock()
		if rec == nil {
			continue
		}
		if err := fn(key, rec, nil); err != nil {
			return err
		}
	}
	return nil
}
