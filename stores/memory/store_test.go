package memory_test

import (
	"context"
	"testing"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
	"github.com/sidecarproxy/sidecar/stores/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock func() time.Time) sessions.Store {
		s := memory.New(memory.Options{Clock: clock})
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestDeadlines(t *testing.T) {
	storetest.RunDeadlines(t, storetest.Stall{
		New: func(t *testing.T, clock func() time.Time, beforeCommit func(context.Context)) sessions.Store {
			s := memory.New(memory.Options{Clock: clock, BeforeCommit: beforeCommit})
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
	})
}
