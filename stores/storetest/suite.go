package storetest

import (
	"testing"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
)

// NewStore builds a fresh, empty store that reads time from clock. Run calls
// it once per subtest with that subtest's t, so register any teardown (Close,
// removing a temporary file or database) with t.Cleanup. Stores built by
// successive calls may share one backend if each has a namespace of its
// own: the suite uses random keys and principals, and only Count sees
// everything.
type NewStore func(t *testing.T, clock func() time.Time) sessions.Store

// suite holds what every subtest needs to build its store.
type suite struct {
	newStore NewStore
}

// Run runs the conformance suite against the stores newStore builds. It
// fails t if any part of the sessions.Store contract is broken. Subtests
// run one after another (none calls t.Parallel); select parts with
// go test -run, e.g. -run 'TestConformance/Regenerate/'.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	s := &suite{newStore: newStore}
	groups := []struct {
		name string
		run  func(*testing.T)
	}{
		{"Create", s.testCreate},
		{"Load", s.testLoad},
		{"Delete", s.testDelete},
		{"Copies", s.testCopies},
		{"Apply", s.testApply},
		{"MaxBytes", s.testMaxBytes},
		{"BaseVersion", s.testBaseVersion},
		{"Expiry", s.testExpiry},
		{"Touch", s.testTouch},
		{"Principal", s.testPrincipal},
		{"Regenerate", s.testRegenerate},
		{"Tombstone", s.testTombstone},
		{"Client", s.testClient},
		{"Handle", s.testHandle},
		{"Count", s.testCount},
		{"Each", s.testEach},
		{"Index", s.testIndex},
		{"Concurrency", s.testConcurrency},
		{"CancelledContext", s.testCancelledContext},
	}
	for _, g := range groups {
		t.Run(g.name, g.run)
	}
}
