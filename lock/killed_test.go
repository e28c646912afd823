package lock_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// Environment of the helper process.
const (
	helperAddr = "LOCK_TEST_HELPER_ADDR" // Redis address; unset: not the helper
	helperKey  = "LOCK_TEST_HELPER_KEY"
	helperTTL  = "LOCK_TEST_HELPER_TTL"
)

// TestHelperProcess is not a test: TestKilledHolder runs the test binary
// again with only this test selected and helperAddr set. It takes the lock,
// prints "lease <until, Unix ms> <fence>" and blocks until it is killed
// (or, should the parent die first, for a minute).
func TestHelperProcess(t *testing.T) {
	addr := os.Getenv(helperAddr)
	if addr == "" {
		return
	}
	ttl, err := time.ParseDuration(os.Getenv(helperTTL))
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	client := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	l := lock.NewRedis(client, redisOptions(lock.Options{}))
	lease, err := l.Acquire(t.Context(), os.Getenv(helperKey), ttl, 0)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	fmt.Println("lease", lease.Until().UnixMilli(), lease.Fence())
	<-time.After(time.Minute)
	os.Exit(3)
}

// A holder that dies blocks others only until its lease expires: a child
// process takes the lock and is killed with SIGKILL, never releasing it; a
// waiter gets the lock once the lease has expired, not before.
func TestKilledHolder(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	ctx := t.Context()
	key := randomKey()
	const ttl = shortTTL

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), helperAddr+"="+srv.Addr(), helperKey+"="+key, helperTTL+"="+ttl.String())
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	lines := make(chan string, 1)
	go func() { // exits at the child's exit, which closes stdout
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "lease ") || strings.HasPrefix(line, "error ") {
				lines <- line
			}
		}
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(waitBound):
		t.Fatalf("the helper process printed no lease within %v", waitBound)
	}
	var untilMs, fence int64
	_, err = fmt.Sscanf(line, "lease %d %d", &untilMs, &fence)
	require.NoError(t, err, "helper said %q", line)
	until := time.UnixMilli(untilMs)

	require.NoError(t, cmd.Process.Kill())
	<-exited

	l := lock.NewRedis(srv.Client(t), redisOptions(lock.Options{}))
	defer l.Close()
	if _, err := l.Acquire(ctx, key, longTTL, 0); time.Now().Before(until) {
		assert.ErrorIs(t, err, lock.ErrNotObtained, "the dead holder's lease is still valid")
	}
	// The waiter learns from its failed attempts when the lease ends, and
	// tries again then.
	lease, err := l.Acquire(ctx, key, longTTL, 20*time.Second)
	got := time.Now()
	require.NoError(t, err)
	const margin = 20 * time.Millisecond // two processes' readings of one clock, in ms
	assert.False(t, got.Before(until.Add(-margin)),
		"granted at %v, before the dead holder's lease ended at %v", got.Format(time.StampMicro), until.Format(time.StampMicro))
	assert.Less(t, got.Sub(until), 10*time.Second, "the lock stayed blocked long after the lease ended")
	assert.Greater(t, lease.Fence(), fence)
	t.Logf("dead holder's lease ended %v; granted %v after", until.Format(time.StampMilli), got.Sub(until))
}
