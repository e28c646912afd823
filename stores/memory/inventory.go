package memory

import (
	"context"
	"fmt"

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
