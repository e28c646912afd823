//go:build unix

package redistest

import (
	"context"
	"net"
	"sync/atomic"

	"github.com/redis/go-redis/v9"
)

// RoundTrips is a go-redis hook that counts the client's round trips: one
// per command the client processes and one per pipeline it executes (a
// pipeline that a cluster client splits across nodes still counts once,
// since its parts travel concurrently). Retries and redirects inside one
// command are not counted separately, and neither are the commands
// go-redis sends to set up a new connection (HELLO, AUTH, SELECT, CLIENT
// ...), so the count does not depend on the state of the pool. It is safe
// for concurrent use.
type RoundTrips struct {
	n atomic.Int64
}

var _ redis.Hook = (*RoundTrips)(nil)

// CountRoundTrips adds a RoundTrips hook to c and returns it.
func CountRoundTrips(c redis.UniversalClient) *RoundTrips {
	r := &RoundTrips{}
	c.AddHook(r)
	return r
}

// Count returns the round trips counted since the last Reset.
func (r *RoundTrips) Count() int64 { return r.n.Load() }

// Reset sets the count back to zero.
func (r *RoundTrips) Reset() { r.n.Store(0) }

// DialHook implements redis.Hook; dials are not counted.
func (r *RoundTrips) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		return next(ctx, network, addr)
	}
}

// ProcessHook implements redis.Hook, counting one per command.
func (r *RoundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if !setup(cmd) {
			r.n.Add(1)
		}
		return next(ctx, cmd)
	}
}

// ProcessPipelineHook implements redis.Hook, counting one per pipeline.
func (r *RoundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if !setup(cmd) {
				r.n.Add(1)
				break
			}
		}
		return next(ctx, cmds)
	}
}

// setup reports whether cmd is one go-redis sends while setting up a
// connection rather than on the application's behalf.
func setup(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "auth", "select", "client", "readonly":
		return true
	}
	return false
}
