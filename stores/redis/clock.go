package redisstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of the deadline options.
const (
	// DefaultClockRefresh is Options.ClockRefresh's default.
	DefaultClockRefresh = 10 * time.Second
	// DefaultDeadlineMargin is Options.DeadlineMargin's default.
	DefaultDeadlineMargin = 5 * time.Millisecond
	// maxDrift bounds how fast the two clocks may drift apart between
	// samples: 200 ppm, twice what an unsynchronised quartz clock does.
	maxDrift = 200e-6
)

// clockSample relates the Redis server's clock (TIME) to Sidecar's: at the
// local instant local (with its monotonic reading) the server's clock read
// server microseconds, give or take err (half the round trip of the TIME
// that measured it).
type clockSample struct {
	local  time.Time
	server int64
	err    time.Duration
}

// serverClock keeps one clockSample per Redis server a write can land on:
// one for a standalone server or a Sentinel-managed master (the client
// talks to one master at a time), one per master address on a cluster,
// since every node has its own clock. A sample is taken with one TIME
// round trip on first use and again once it is older than refresh, and
// dropped when a command on that server fails without a reply (a
// failover, a restart, a new master at the same or another address), so
// the next write measures afresh.
type serverClock struct {
	client  redis.UniversalClient
	refresh time.Duration
	margin  time.Duration
	now     func() time.Time // time.Now; a field for tests

	mu      sync.Mutex
	samples map[string]clockSample // by node address ("" off a cluster)
}

func newServerClock(client redis.UniversalClient, refresh, margin time.Duration) *serverClock {
	return &serverClock{
		client:  client,
		refresh: refresh,
		margin:  margin,
		now:     time.Now,
		samples: make(map[string]clockSample),
	}
}

// node returns the client of the server that key lives on and the name
// its sample is kept under.
func (c *serverClock) node(ctx context.Context, key string) (string, redis.Cmdable, error) {
	cc, ok := c.client.(*redis.ClusterClient)
	if !ok {
		return "", c.client, nil
	}
	n, err := cc.MasterForKey(ctx, key)
	if err != nil {
		return "", nil, fmt.Errorf("finding the node of %s: %w", key, err)
	}
	return n.Options().Addr, n, nil
}

// nodeName is the name key's server's sample is kept under ("" when it
// cannot be told).
func (c *serverClock) nodeName(ctx context.Context, key string) string {
	name, _, _ := c.node(ctx, key)
	return name
}

// limit returns the commit limit of a write on key under ctx's deadline:
// the latest server time (Unix microseconds, on the clock of key's server)
// at which that write's script may still commit, or 0 when ctx has no
// deadline. It is the deadline translated to the server's clock, less the
// sample's error (grown by the drift since it was taken) and the margin,
// so that a script the server runs after the limit by its own clock runs
// after the caller's deadline by Sidecar's: once the caller has given up,
// the write can no longer take effect. It measures the offset first (one
// TIME round trip) when it has no fresh sample. A deadline already too
// close to send anything fails with context.DeadlineExceeded.
func (c *serverClock) limit(ctx context.Context, key string) (string, int64, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return "", 0, nil
	}
	name, node, err := c.node(ctx, key)
	if err != nil {
		return "", 0, err
	}
	c.mu.Lock()
	smp, ok := c.samples[name]
	c.mu.Unlock()
	if !ok || c.now().Sub(smp.local) > c.refresh {
		if smp, err = c.measure(ctx, name, node); err != nil {
			return "", 0, err
		}
	}
	slack := smp.err + time.Duration(float64(c.now().Sub(smp.local))*maxDrift) + c.margin
	if !c.now().Before(deadline.Add(-slack)) {
		return "", 0, fmt.Errorf("less than the clock margin (%v) left: %w", slack, context.DeadlineExceeded)
	}
	return name, smp.server + deadline.Add(-slack).Sub(smp.local).Microseconds(), nil
}

// measure takes a fresh sample of node's clock with TIME and keeps it.
func (c *serverClock) measure(ctx context.Context, name string, node redis.Cmdable) (clockSample, error) {
	t0 := c.now()
	st, err := node.Time(ctx).Result()
	t1 := c.now()
	if err != nil {
		return clockSample{}, fmt.Errorf("reading the server clock: %w", err)
	}
	rtt := t1.Sub(t0)
	smp := clockSample{local: t0.Add(rtt / 2), server: st.UnixMicro(), err: rtt/2 + time.Microsecond}
	c.mu.Lock()
	c.samples[name] = smp
	c.mu.Unlock()
	return smp, nil
}

// forget drops the sample of node name after a command there failed
// without a reply: the server behind it may have changed.
func (c *serverClock) forget(name string) {
	c.mu.Lock()
	delete(c.samples, name)
	c.mu.Unlock()
}

// noReply reports whether err is a failure to get a reply (a timeout, a
// reset connection), as opposed to an error Redis answered with, and so
// whether the command may have run, or may still run, on the server.
func noReply(err error) bool {
	var rerr redis.Error
	return err != nil && !errors.As(err, &rerr) && !errors.Is(err, redis.Nil)
}

// neverSent reports whether err shows that the command was never sent:
// the connection could not be opened, or none was free in the pool.
func neverSent(err error) bool {
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial" || errors.Is(err, redis.ErrPoolTimeout)
}

// settle is what a write does when its committing script failed with err:
// when no reply came, the script may still be queued on the server, and
// though it will refuse to commit past the limit, that limit is only
// guaranteed to be past once ctx's deadline is. So settle waits for the
// deadline before returning, that the caller never hears "failed" while
// the write can still take effect (a go-redis ReadTimeout shorter than
// the deadline, or a reset connection, would otherwise report early). It
// returns at once for a reply, a command never sent, or no deadline.
func (c *serverClock) settle(ctx context.Context, node string, err error) {
	if !noReply(err) {
		return
	}
	c.forget(node)
	if neverSent(err) {
		return
	}
	if _, ok := ctx.Deadline(); ok {
		<-ctx.Done()
	}
}
