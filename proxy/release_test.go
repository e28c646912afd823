package proxy

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

var errNoAnswer = errors.New("injected: Redis did not answer")

// droppingClient fails its next drop script calls before they reach Redis.
type droppingClient struct {
	lock.Client
	drop atomic.Int32
}

func (d *droppingClient) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	if d.drop.Add(-1) >= 0 {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(errNoAnswer)
		return cmd
	}
	return d.Client.EvalSha(ctx, sha, keys, args...)
}

// TestReleaseRetried pins a failure of TestReadModifyWriteIncrements on a
// machine at load 28: one release of a session lock did not get an
// answer within the lock's server timeout, so the lock stayed held for
// the rest of its 30s lease and every other request of that session
// waited until the clients gave up. A release is tried again.
func TestReleaseRetried(t *testing.T) {
	ctx := t.Context()
	dc := &droppingClient{Client: redistest.Start(t).Client(t)}
	l := lock.NewRedis(dc, lock.Options{})
	t.Cleanup(func() { _ = l.Close() })
	lease, err := l.Acquire(ctx, "session:x", time.Hour, 0)
	require.NoError(t, err)

	dc.drop.Store(releaseAttempts - 1) // every try but the last goes unanswered
	require.NoError(t, releaseRetrying(ctx, lease))
	again, err := l.Acquire(ctx, "session:x", time.Hour, 0)
	require.NoError(t, err, "released: free at once, not in an hour")
	require.NoError(t, again.Release(ctx))

	lease, err = l.Acquire(ctx, "session:y", time.Hour, 0)
	require.NoError(t, err)
	dc.drop.Store(releaseAttempts) // no try is answered
	assert.ErrorIs(t, releaseRetrying(ctx, lease), errNoAnswer, "after %d tries it gives up", releaseAttempts)
	dc.drop.Store(0)
}
