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

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/lock"
)

// Timing of the tests. The Redis ones run on the real clock, and a loaded
// 2-core machine running the race detector can stall a goroutine, or a
// round trip to Redis, for a second or more: no assertion may depend on
// something happening within a short window. So leases that must not
// expire outlive any stall, leases a test waits out are a few seconds
// long, and waits are for conditions, bounded by waitBound.
const (
	// serverTimeout replaces Options.ServerTimeout's 500ms default in the
	// Redis tests. The default suits a Redis that answers in a
	// millisecond; under load a round trip can take longer, and a test
	// would then see a quorum missed, an attempt retried or a lease lost
	// for want of CPU, not by any fault of the lock.
	serverTimeout = 10 * time.Second
	// longTTL is the TTL of Redis leases that must not expire during a
	// test: no stall outlasts it.
	longTTL = 30 * time.Second
	// shortTTL is the TTL of Redis leases that a test waits out or keeps
	// alive past: short enough to wait for, long enough that granting or
	// extending one (every third of it, for KeepAlive) survives a stall of
	// a couple of seconds.
	shortTTL = 4 * time.Second
	// waitBound bounds every wait for a condition, and for an Acquire to
	// return.
	waitBound = 30 * time.Second
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
	// ttl is the TTL of leases that must not expire during a test.
	ttl time.Duration
	// short is the TTL of leases a test lets expire (advancing the clock,
	// or waiting) or keeps alive past their first validity.
	short time.Duration
}

// redisImpl runs the suite on Lockers over clients, each subtest with a
// key prefix of its own and, unless it sets one, the serverTimeout.
func redisImpl(name string, clients func(t *testing.T) []lock.Client) impl {
	return impl{name: name, start: func(t *testing.T) *env {
		cs := clients(t)
		prefix := "t" + rand.Text()[:8] + ":"
		return &env{
			newLocker: func(t *testing.T, opts lock.Options) *lock.Locker {
				opts.Prefix = prefix
				if opts.ServerTimeout == 0 {
					opts.ServerTimeout = serverTimeout
				}
				l, err := lock.NewRedlock(cs, opts)
				require.NoError(t, err)
				t.Cleanup(func() { _ = l.Close() })
				return l
			},
			advance: func(time.Duration) {},
			now:     time.Now,
			ttl:     longTTL,
			short:   shortTTL,
		}
	}}
}

// localImpl runs the suite on NewLocal with a fake clock, on which no
// lease expires until a test advances it. Its short TTL only sets the
// pace of KeepAlive, whose timer is real.
func localImpl() impl {
	return impl{name: "Local", start: func(t *testing.T) *env {
		clock := clocktest.New()
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
			short:   300 * time.Millisecond,
		}
	}}
}

// redisOptions returns opts with the tests' serverTimeout unless it sets
// one, for Lockers made outside the conformance suite.
func redisOptions(opts lock.Options) lock.Options {
	if opts.ServerTimeout == 0 {
		opts.ServerTimeout = serverTimeout
	}
	return opts
}

// randomKey returns a fresh lock key.
func randomKey() string { return "k" + rand.Text() }

// waitFor fails t unless cond holds within waitBound. It checks every
// 5ms: a condition on state the test cannot be told about.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, waitBound, 5*time.Millisecond, "waiting %v for %s", waitBound, what)
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

// receive returns the result from ch, failing t if none comes within
// waitBound.
func receive(t *testing.T, ch <-chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(waitBound):
		t.Fatalf("Acquire did not return within %v", waitBound)
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

// gatedClient wraps a real client and holds back its first script call,
// before it reaches Redis, until open is called: a call delayed in the
// client, which later calls overtake. Make one with newGatedClient.
type gatedClient struct {
	lock.Client
	armed  atomic.Bool
	held   chan struct{} // closed when the call is held
	gate   chan struct{} // closed by open
	opened sync.Once
}

// newGatedClient returns a gatedClient on c, opened at the end of the
// test.
func newGatedClient(t *testing.T, c lock.Client) *gatedClient {
	g := &gatedClient{Client: c, held: make(chan struct{}), gate: make(chan struct{})}
	g.armed.Store(true)
	t.Cleanup(g.open)
	return g
}

// open lets the held call through, and every later one.
func (g *gatedClient) open() { g.opened.Do(func() { close(g.gate) }) }

func (g *gatedClient) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	g.wait(ctx)
	return g.Client.EvalSha(ctx, sha, keys, args...)
}

func (g *gatedClient) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	g.wait(ctx)
	return g.Client.Eval(ctx, script, keys, args...)
}

// wait holds the call if the gate is armed, until it opens or ctx ends.
func (g *gatedClient) wait(ctx context.Context) {
	if !g.armed.CompareAndSwap(true, false) {
		return
	}
	close(g.held)
	select {
	case <-g.gate:
	case <-ctx.Done():
	}
}
