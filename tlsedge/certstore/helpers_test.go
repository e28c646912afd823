package certstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
	"github.com/sidecarproxy/sidecar/tlsedge/certstore"
)

// Timing of the tests. They run on the real clock, on a loaded 2-core
// machine under the race detector, where a goroutine or a round trip can
// stall for a second or more: no assertion depends on something happening
// within a short window, and waits are for conditions, bounded by
// waitBound.
const (
	// serverTimeout replaces lock.Options.ServerTimeout's 500ms, which
	// suits a Redis answering in a millisecond, not a loaded test machine.
	serverTimeout = 10 * time.Second
	// shortTTL is the lock TTL of tests that let a lease run out or keep
	// one alive past its TTL: short enough to wait for, long enough that
	// extending it every third survives a stall of a second or so.
	shortTTL = 4 * time.Second
	// waitBound bounds every wait for a condition or a blocked call.
	waitBound = 30 * time.Second
	// pollEvery is how often a waited-for condition is checked.
	pollEvery = 20 * time.Millisecond
)

// backend is a Redis deployment the suites run on.
type backend struct {
	name string
	// start starts the deployment and returns a function that makes a
	// new client on it, each one standing for another Sidecar.
	start func(t *testing.T) func(t *testing.T) redis.UniversalClient
}

// backends are a standalone server and a three-master Cluster.
func backends() []backend {
	return []backend{
		{"standalone", func(t *testing.T) func(t *testing.T) redis.UniversalClient {
			srv := redistest.Start(t)
			return func(t *testing.T) redis.UniversalClient { return srv.Client(t) }
		}},
		{"cluster", func(t *testing.T) func(t *testing.T) redis.UniversalClient {
			c := redistest.StartCluster(t, 3)
			return func(t *testing.T) redis.UniversalClient { return c.Client(t) }
		}},
	}
}

// env is one subtest's share of a deployment: its own key and lock
// prefixes, so that subtests never see each other's keys.
type env struct {
	newClient  func(t *testing.T) redis.UniversalClient
	prefix     string
	lockPrefix string
}

// newEnv returns an env with fresh prefixes on the deployment newClient
// connects to.
func newEnv(newClient func(t *testing.T) redis.UniversalClient) *env {
	id := rand.Text()[:8]
	return &env{newClient: newClient, prefix: "t" + id + ":certs:", lockPrefix: "t" + id + ":lock:"}
}

// instance is one Sidecar's view of the shared storage: its own client,
// Locker and Storage.
type instance struct {
	*certstore.Storage
	client redis.UniversalClient
	locker *lock.Locker
	// cut, once set, makes every Redis call of this instance fail, as
	// if its host had been cut off the network (or had died).
	cut *atomic.Bool
}

// instance starts another instance on e's storage, with opts (its Prefix
// set to e's). t.Cleanup closes it.
func (e *env) instance(t *testing.T, opts certstore.Options) *instance {
	t.Helper()
	client := e.newClient(t)
	cut := new(atomic.Bool)
	client.AddHook(partition{cut})
	locker := lock.NewRedis(client, lock.Options{Prefix: e.lockPrefix, ServerTimeout: serverTimeout})
	opts.Prefix = e.prefix
	s, err := certstore.New(client, locker, opts)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = s.Close()
		_ = locker.Close()
	})
	return &instance{Storage: s, client: client, locker: locker, cut: cut}
}

// errCut is what a cut instance's Redis calls fail with.
var errCut = errors.New("test: cut off from Redis")

// partition is a go-redis hook that fails every call while cut is set.
type partition struct{ cut *atomic.Bool }

func (p partition) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if p.cut.Load() {
			return nil, errCut
		}
		return next(ctx, network, addr)
	}
}

func (p partition) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if p.cut.Load() {
			cmd.SetErr(errCut)
			return errCut
		}
		return next(ctx, cmd)
	}
}

func (p partition) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if p.cut.Load() {
			for _, c := range cmds {
				c.SetErr(errCut)
			}
			return errCut
		}
		return next(ctx, cmds)
	}
}

// ctx returns a context bounded by waitBound, cancelled by t.Cleanup.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), waitBound)
	t.Cleanup(cancel)
	return c
}

// waitFor polls cond until it holds, failing the test after waitBound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, waitBound, pollEvery, "waited %v for %s", waitBound, what)
}
