package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
)

// cancelledWait bounds how long a method given a cancelled context may take
// to return before the suite calls it a hang.
const cancelledWait = 10 * time.Second

func (s *suite) testCancelledContext(t *testing.T) {
	// Each call gets a context cancelled before the call and the live session
	// rec under key, so a store that ignores its context would succeed.
	tests := []struct {
		name string
		call func(ctx context.Context, e *env, key string, rec *sessions.Record) error
	}{
		{"Load", func(ctx context.Context, e *env, key string, rec *sessions.Record) error {
			_, err := e.store.Load(ctx, key, nil)
			return err
		}},
		{"LoadWithTouch", func(ctx context.Context, e *env, key string, rec *sessions.Record) error {
			idle := e.clock.Now().Add(time.Hour)
			_, err := e.store.Load(ctx, key, &sessions.Touch{Before: idle, IdleExp: idle})
			return err
		}},
		{"Create", func(ctx context.Context, e *env, _ string, _ *sessions.Record) error {
			return e.store.Create(ctx, randomKey(), e.record(randomPrincipal()))
		}},
		{"Apply", func(ctx context.Context, e *env, key string, rec *sessions.Record) error {
			_, err := e.store.Apply(ctx, key, &sessions.Delta{Set: map[string]json.RawMessage{"a": raw(`1`)}})
			return err
		}},
		{"Regenerate", func(ctx context.Context, e *env, key string, rec *sessions.Record) error {
			_, err := e.store.Regenerate(ctx, key, randomKey(), &sessions.Delta{})
			return err
		}},
		{"Delete", func(ctx context.Context, e *env, key string, rec *sessions.Record) error {
			return e.store.Delete(ctx, key)
		}},
		{"ByPrincipal", func(ctx context.Context, e *env, key string, rec *sessions.Record) error {
			_, err := e.store.ByPrincipal(ctx, rec.Principal)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := s.env(t)
			key, rec := e.session()
			ctx, cancel := context.WithCancel(e.ctx)
			cancel()
			done := make(chan error, 1)
			go func() { done <- tt.call(ctx, e, key, rec) }()
			select {
			case err := <-done:
				if err == nil {
					t.Errorf("%s with a cancelled context returned nil; want an error", tt.name)
				}
			case <-time.After(cancelledWait):
				t.Errorf("%s with a cancelled context did not return within %v", tt.name, cancelledWait)
			}
		})
	}
}
