//go:build unix

package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServerLifecycle(t *testing.T) {
	t.Parallel()
	s := Start(t)
	c := s.Client(t)
	ctx := t.Context()
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())

	t.Run("NoPersistence", func(t *testing.T) {
		cfg, err := c.ConfigGet(ctx, "*").Result()
		require.NoError(t, err)
		assert.Equal(t, "", cfg["save"])
		assert.Equal(t, "no", cfg["appendonly"])
		assert.Equal(t, s.Dir(), cfg["dir"])
	})

	t.Run("PauseMakesCallsTimeOut", func(t *testing.T) {
		s.Pause()
		defer s.Resume()
		ctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := c.Get(ctx, "k").Err()
		assert.Error(t, err)
		assert.Less(t, time.Since(start), 2*time.Second, "a paused server must not hold the call past its deadline")
	})

	t.Run("ResumeServesAgain", func(t *testing.T) {
		assert.Equal(t, "v", c.Get(ctx, "k").Val())
	})

	t.Run("RestartKeepsPortDropsData", func(t *testing.T) {
		addr := s.Addr()
		s.Restart()
		assert.Equal(t, addr, s.Addr())
		assert.ErrorIs(t, c.Get(ctx, "k").Err(), redis.Nil)
	})

	t.Run("StopAndStart", func(t *testing.T) {
		s.Stop()
		s.Stop() // no-op
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		assert.Error(t, c.Ping(short).Err())
		s.Start()
		assert.NoError(t, c.Ping(ctx).Err())
	})

	t.Run("Kill", func(t *testing.T) {
		s.Kill()
		short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		assert.Error(t, c.Ping(short).Err())
		s.Start()
		assert.NoError(t, c.Ping(ctx).Err())
	})
}

func TestStartExtraArgs(t *testing.T) {
	t.Parallel()
	s := Start(t, "--maxmemory", "1mb")
	cfg, err := s.Client(t).ConfigGet(t.Context(), "maxmemory").Result()
	require.NoError(t, err)
	assert.Equal(t, "1048576", cfg["maxmemory"])
}

func TestCluster(t *testing.T) {
	t.Parallel()
	cl := StartCluster(t, 3)
	require.Len(t, cl.Addrs(), 3)
	c := cl.Client(t)
	ctx := t.Context()
	requireSpread(t, cl)
	// Two keys in different slots cannot be renamed onto each other: the
	// Cluster is real.
	err := c.Rename(ctx, "key0", "key1").Err()
	assert.ErrorContains(t, err, "CROSSSLOT")
}

// requireSpread writes keys through cl's client, enough to land on every
// master, and fails t unless every node holds some.
func requireSpread(t *testing.T, cl *Cluster) {
	t.Helper()
	c, ctx := cl.Client(t), t.Context()
	for i := range 30 {
		require.NoError(t, c.Set(ctx, fmt.Sprint("key", i), i, 0).Err())
	}
	for i, n := range cl.Nodes() {
		size, err := n.Client(t).DBSize(ctx).Result()
		require.NoError(t, err)
		assert.Positive(t, size, "node %d holds no keys: slots not spread", i)
	}
}

func TestSentinel(t *testing.T) {
	t.Parallel()
	s := StartSentinel(t)
	c := s.Client(t)
	ctx := t.Context()
	require.NoError(t, c.Set(ctx, "k", "v", 0).Err())
	v, err := s.Master().Client(t).Get(ctx, "k").Result()
	require.NoError(t, err)
	assert.Equal(t, "v", v)
	assert.NotEmpty(t, s.MasterName())
}

func TestRoundTrips(t *testing.T) {
	t.Parallel()
	c := Start(t).Client(t)
	ctx := t.Context()
	rt := CountRoundTrips(c)
	require.NoError(t, c.Ping(ctx).Err())
	assert.EqualValues(t, 1, rt.Count())
	_, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, "a", 1, 0)
		p.Get(ctx, "a")
		return nil
	})
	require.NoError(t, err)
	assert.EqualValues(t, 2, rt.Count())
	rt.Reset()
	assert.Zero(t, rt.Count())
}

// fatalRecorder is a testing.TB whose Fatalf records the message instead
// of stopping the goroutine.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }

func TestMissingRedisServerFailsWithInstructions(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	f := &fatalRecorder{TB: t}
	redisServerPath(f)
	assert.Contains(t, f.msg, "apt-get install redis-server")
}

func TestCleanupKillsEveryProcess(t *testing.T) {
	t.Parallel()
	var pids []int
	t.Run("Inner", func(t *testing.T) {
		paused := Start(t)
		paused.Pause() // cleanup must kill a stopped process too
		cl := StartCluster(t, 1)
		se := StartSentinel(t)
		for _, s := range append([]*Server{paused, se.Master(), se.SentinelServer()}, cl.Nodes()...) {
			pids = append(pids, s.cmd.Process.Pid)
		}
	})
	require.Len(t, pids, 4)
	for _, pid := range pids {
		err := syscall.Kill(pid, 0)
		assert.True(t, errors.Is(err, syscall.ESRCH), "process %d outlived its test: kill(0) = %v", pid, err)
	}
}

func TestTakenPortIsDetected(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	s := &Server{t: t, bin: redisServerPath(t), dir: t.TempDir()}
	t.Cleanup(s.kill)
	start := time.Now()
	err = s.launch(port, func(port int) []string { return s.baseArgs(port, nil) })
	require.Error(t, err, "redis-server cannot bind a taken port")
	assert.Contains(t, err.Error(), "exited")
	assert.Less(t, time.Since(start), readyTimeout/2, "an early exit is noticed at once, not at the deadline")
	_, statErr := os.Stat(s.dir)
	assert.NoError(t, statErr)
}
