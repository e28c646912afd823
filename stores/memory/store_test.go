package memory_test

import (
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
