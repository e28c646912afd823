package lock_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/lock"
)

func TestLocal(t *testing.T) {
	t.Parallel()
	runConformance(t, localImpl())
}

func TestLocalFencesFollowTheClock(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	ctx := t.Context()
	a := lock.NewLocal(lock.Options{Clock: clock.Now})
	lease, err := a.Acquire(ctx, "k", time.Second, 0)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, lease.Fence(), clock.Now().UnixMicro(), "fences are floored at the clock")

	// A new Locker (a restarted process) still issues higher fences, the
	// clock having moved by its smallest step.
	clock.Advance(time.Millisecond)
	b := lock.NewLocal(lock.Options{Clock: clock.Now})
	next, err := b.Acquire(ctx, "k", time.Second, 0)
	require.NoError(t, err)
	assert.Greater(t, next.Fence(), lease.Fence())
}

func TestLocalSweepsExpiredLeases(t *testing.T) {
	t.Parallel()
	clock := clocktest.New()
	ctx := t.Context()
	l := lock.NewLocal(lock.Options{Clock: clock.Now})
	// Many keys locked once and never released, as by holders that died.
	for range 1000 {
		_, err := l.Acquire(ctx, randomKey(), time.Second, 0)
		require.NoError(t, err)
	}
	clock.Advance(time.Second)
	kept, err := l.Acquire(ctx, "kept", time.Minute, 0)
	require.NoError(t, err)
	for range 200 {
		_, err := l.Acquire(ctx, randomKey(), time.Second, 0)
		require.NoError(t, err)
	}
	// The sweep dropped the expired leases but not the live one.
	_, err = l.Acquire(ctx, "kept", time.Minute, 0)
	assert.ErrorIs(t, err, lock.ErrNotObtained)
	require.NoError(t, kept.Release(ctx))
}
