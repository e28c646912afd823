package bolt

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/storetest"
)

func TestConformance(t *testing.T) {
	for _, sync := range []bool{false, true} {
		name := map[bool]string{false: "NoSync", true: "Fsync"}[sync]
		t.Run(name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T, clock func() time.Time) sessions.Store {
				s, err := Open(filepath.Join(t.TempDir(), "sessions.db"), Options{
					Clock:         clock,
					NoSync:        !sync,
					SweepInterval: time.Millisecond, // sweeps race with every subtest
				})
				require.NoError(t, err)
				t.Cleanup(func() { require.NoError(t, s.Close()) })
				return s
			})
		})
	}
}

func TestDeadlines(t *testing.T) {
	storetest.RunDeadlines(t, storetest.Stall{
		New: func(t *testing.T, clock func() time.Time, beforeCommit func(context.Context)) sessions.Store {
			s, err := Open(filepath.Join(t.TempDir(), "sessions.db"), Options{
				Clock:         clock,
				NoSync:        true,
				SweepInterval: time.Millisecond,
				BeforeCommit:  beforeCommit,
			})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, s.Close()) })
			return s
		},
	})
}
