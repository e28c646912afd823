package lock_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/lock"
)

// impl is one Locker implementation the conformance suite runs against.
type impl struct {
	name string
	// start returns a fresh environment for one subtest.
	start func(t *testing.T) *env
}

// env is a Locker under test, with what the suite needs around it.
type env struct {
	// newLocker returns a Locker with opts on the environment's backend.
	// For Redis every call makes a new Locker (another client process, in
	// effect) on the same servers; the in-process backend has no peers,
	// so there calls with the same options share one Locker.
	newLocker func(t *testing.T, opts lock.Options) *lock.Locker
	// advance moves the Lockers' clock forward by d; for Redis it does
	// nothing, and waits for expiry are real waits (for an acquisition,
	// bounded).
	advance func(d time.Duration)
	// now reads the Lockers' clock.
	now func() time.Time
	// ttl is a lease TTL short enough to wait out on a real clock.
	ttl time.Duration
}

// redisImpl runs the suite on Lockers over clients, each subtest with a
// key prefix of its own.
func redisImpl(name string, clients func(t *testing.T) []lock.Client) impl {
	return impl{name: name, start: func(t *testing.T) *env {
		cs := clients(t)
		prefix := "t" + rand.Text()[:8] + ":"
		return &env{
			newLocker: func(t *testing.T, opts lock.Options) *lock.Locker {
				opts.Prefix = prefix
				l, err := lock.NewRedlock(cs, opts)
				require.NoError(t, err)
				t.Cleanup(func() { _ = l.Close() })
				return l
			},
			advance: func(time.Duration) {},
			now:     time.Now,
			ttl:     300 * time.Millisecond,
		}
	}}
}

// localImpl runs the suite on NewLocal with a fake clock.
func localImpl() impl {
	return impl{name: "Local", start: func(t *testing.T) *env {
		clock := newFakeClock()
		var mu sync.Mutex
		lockers := map[string]*lock.Locker{} // by the options that matter
		return &env{
			newLocker: func(t *testing.T, opts lock.Options) *lock.Locker {
				mu.Lock()
				defer mu.Unlock()
				id := fmt.Sprint(opts.NoNotify, opts.RetryMin, opts.RetryMax)
				if l := lockers[id]; l != nil {
					return l
				}
				opts.Clock = clock.Now
				l := lock.NewLocal(opts)
				lockers[id] = l
				return l
			},
			advance: clock.Advance,
			now:     clock.Now,
			ttl:     time.Minute,
		}
	}}
}

// fakeClock is a clock that moves only when told.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// randomKey returns a fresh lock key.
func randomKey() string { return "k" + rand.Text() }

// waitFor fails t unless cond holds within 5s. It checks every
// millisecond: a condition on state the test cannot be told about.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 5*time.Second, time.Millisecond, "waiting for %s", what)
}

// result is the outcome of an Acquire run in a goroutine.
type result struct {
	lease *lock.Lease
	err   error
	at    time.Time // when Acquire returned
}

// acquireAsync runs Acquire in a goroutine; the channel gets its result.
func acquireAsync(ctx context.Context, l *lock.Locker, key string, ttl, wait time.Duration) <-chan result {
	ch := make(chan result, 1)
	go func() {
		lease, err := l.Acquire(ctx, key, ttl, wait)
		ch <- result{lease: lease, err: err, at: time.Now()}
	}()
	return ch
}

// receive returns the result from ch, failing t if none comes within 15s.
func receive(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(15 * time.Second):
		t.Fatal("Acquire did not return within 15s")
		return result{}
	}
}

// errInjected is the error faultyClient injects.
var errInjected = errors.New("injected fault")

// Fault modes of a faultyClient.
const (
	healthy    int32 = iota
	failBefore       // scripts fail without reaching Redis
	loseReply        // scripts run, then their reply is lost
)

// faultyClient wraps a real client and injects faults into its scripts.
type faultyClient struct {
	lock.Client
	mode atomic.Int32
}

func (f *faultyClient) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	return f.inject(ctx, func() *redis.Cmd { return f.Client.EvalSha(ctx, sha, keys, args...) })
}

func (f *faultyClient) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return f.inject(ctx, func() *redis.Cmd { return f.Client.Eval(ctx, script, keys, args...) })
}

// inject runs call according to the mode. A NOSCRIPT error passes
// through so that the script is sent again with EVAL.
func (f *faultyClient) inject(ctx context.Context, call func() *redis.Cmd) *redis.Cmd {
	failed := redis.NewCmd(ctx)
	failed.SetErr(errInjected)
	switch f.mode.Load() {
	case failBefore:
		return failed
	case loseReply:
		if cmd := call(); cmd.Err() != nil {
			return cmd
		}
		return failed
	}
	return call()
}
