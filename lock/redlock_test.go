package lock_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// masters starts n independent redis-servers and returns them with a
// client to each.
func masters(t *testing.T, n int) ([]*redistest.Server, []lock.Client) {
	var servers []*redistest.Server
	var clients []lock.Client
	for range n {
		s := redistest.Start(t)
		servers = append(servers, s)
		clients = append(clients, s.Client(t))
	}
	return servers, clients
}

// tokenOn returns the token holding the lock hash rkey on server c, "" if
// none.
func tokenOn(t *testing.T, c lock.Client, rkey string) string {
	t.Helper()
	tok, err := c.(redis.UniversalClient).HGet(t.Context(), rkey, "tok").Result()
	if err == redis.Nil {
		return ""
	}
	require.NoError(t, err)
	return tok
}

func TestRedlockSurvivesAMinorityDown(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	servers, clients := masters(t, 3)
	l, err := lock.NewRedlock(clients, lock.Options{})
	require.NoError(t, err)
	defer l.Close()
	const ttl, wait = 2 * time.Second, 2 * time.Second
	key := randomKey()

	grant := func() *lock.Lease {
		t.Helper()
		lease, err := l.Acquire(ctx, key, ttl, wait)
		require.NoError(t, err)
		return lease
	}
	first := grant()
	require.NoError(t, first.Release(ctx))

	servers[2].Stop()
	second := grant()
	assert.Greater(t, second.Fence(), first.Fence())
	require.NoError(t, second.Extend(ctx, ttl), "a quorum extends")
	require.NoError(t, second.Release(ctx), "a quorum releases")

	servers[1].Stop()
	start := time.Now()
	_, err = l.Acquire(ctx, key, ttl, wait)
	elapsed := time.Since(start)
	require.ErrorIs(t, err, lock.ErrNotObtained)
	assert.ErrorIs(t, err, lock.ErrUnavailable, "the error says why: no quorum")
	assert.ErrorContains(t, err, "quorum of 2 of 3 not reached (1 agreed, 0 refused, 2 failed")
	assert.Less(t, elapsed, wait+ttl, "gave up within the wait bound (plus one attempt)")
	assert.Empty(t, tokenOn(t, clients[0], lock.DefaultPrefix+key),
		"the lock taken on the one live master was released at once")
	assert.Positive(t, l.Stats().Errors)
}

func TestRedlockReleasesPartialAcquisitions(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, clients := masters(t, 3)
	l, err := lock.NewRedlock(clients, lock.Options{})
	require.NoError(t, err)
	defer l.Close()
	key := randomKey()
	rkey := lock.DefaultPrefix + key

	// Another client holds the lock on masters 1 and 2 only.
	for _, c := range clients[1:] {
		exp := time.Now().Add(time.Minute).UnixMilli()
		require.NoError(t, c.(redis.UniversalClient).HSet(ctx, rkey, "tok", "other", "exp", exp).Err())
	}
	_, err = l.Acquire(ctx, key, time.Second, 0)
	require.ErrorIs(t, err, lock.ErrNotObtained)
	assert.NotErrorIs(t, err, lock.ErrUnavailable, "all masters answered: contention")
	// Two noes decide the attempt, possibly before master 0 answers; its
	// lock is then released in the background.
	waitFor(t, "the lock taken on master 0 to be released", func() bool {
		return clients[0].(redis.UniversalClient).HGet(ctx, rkey, "tok").Err() == redis.Nil
	})
	assert.Equal(t, "other", tokenOn(t, clients[1], rkey))
}

// Regression test for a fencing bug in the obvious Redlock design: with
// each master counting on its own and the lease's fence being the highest
// count in its quorum, a later quorum that misses the master with the
// highest count issues a lower fence. Here master 2's counter is far
// ahead; the first lease is granted by masters 1 and 2, the second by
// masters 0 and 1, and must still be fenced above the first.
func TestRedlockFencesIncreaseAcrossQuorums(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	servers, clients := masters(t, 3)
	l, err := lock.NewRedlock(clients, lock.Options{})
	require.NoError(t, err)
	defer l.Close()
	key := randomKey()
	rkey := lock.DefaultPrefix + key

	ahead := time.Now().Add(24 * time.Hour).UnixMicro()
	require.NoError(t, clients[2].(redis.UniversalClient).HSet(ctx, rkey, "fence", ahead).Err())
	servers[0].Stop()
	first, err := l.Acquire(ctx, key, time.Second, 0)
	require.NoError(t, err)
	assert.Greater(t, first.Fence(), ahead)
	f, err := clients[1].(redis.UniversalClient).HGet(ctx, rkey, "fence").Result()
	require.NoError(t, err)
	assert.Equal(t, strconv.FormatInt(first.Fence(), 10), f,
		"master 1 proposed less and was raised to the lease's fence")
	require.NoError(t, first.Release(ctx))

	servers[0].Start()
	servers[2].Stop()
	second, err := l.Acquire(ctx, key, time.Second, 0)
	require.NoError(t, err)
	assert.Greater(t, second.Fence(), first.Fence())
}

// A master restarted without persistence has lost its counter; the
// server-time floor keeps fences increasing.
func TestRedisFencesSurviveARestart(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := redistest.Start(t)
	l := lock.NewRedis(s.Client(t), lock.Options{})
	defer l.Close()
	key := randomKey()
	first, err := l.Acquire(ctx, key, time.Second, 0)
	require.NoError(t, err)
	require.NoError(t, first.Release(ctx))

	s.Restart()
	second, err := l.Acquire(ctx, key, time.Second, 0)
	require.NoError(t, err)
	assert.Greater(t, second.Fence(), first.Fence())
}

func TestNewRedlockRejectsNoClients(t *testing.T) {
	_, err := lock.NewRedlock(nil, lock.Options{})
	assert.Error(t, err)
	_, err = lock.NewRedlock([]lock.Client{nil}, lock.Options{})
	assert.Error(t, err)
}
