package lock

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// Client is what a Redis Locker needs from go-redis: Lua scripts, and
// SUBSCRIBE for release notifications. Every redis.UniversalClient
// (standalone, Sentinel failover, Cluster) has both. Give it
// ContextTimeoutEnabled, so that contexts bound every Redis call.
type Client interface {
	redis.Scripter
	Subscribe(ctx context.Context, channels ...string) *redis.PubSub
}

// redisBackend is the lock on a quorum of independent Redis servers: the
// Redlock algorithm, with one server as its degenerate case.
type redisBackend struct {
	servers []*server
	quorum  int
	opts    Options
	channel string
	scripts scripts
	late    lateGrants
}

// server is one Redis server (or Sentinel group, or Cluster) of a
// redisBackend, with its release notifier.
type server struct {
	client Client
	notes  *notifier
}

var _ backend = (*redisBackend)(nil)

// NewRedis returns a Locker on one Redis deployment: a standalone server,
// a master watched by Sentinel or a Cluster, whichever client is given.
// It is safe while that deployment keeps its writes; see the package doc
// for what a failover can lose. It panics if client is nil.
func NewRedis(client Client, opts Options) *Locker {
	l, err := NewRedlock([]Client{client}, opts)
	if err != nil {
		panic(err)
	}
	return l
}

// NewRedlock returns a Locker that holds a lock only while a majority of
// clients (len(clients)/2+1) agree, each client being an independent Redis
// master, neither a replica of another nor a node of one Cluster: the
// Redlock algorithm. Use an odd number, 3 or 5; with 3, one master may be
// down and locks are still granted. It returns an error if clients is
// empty or holds nil.
func NewRedlock(clients []Client, opts Options) (*Locker, error) {
	if len(clients) == 0 {
		return nil, errors.New("lock: NewRedlock needs at least one client")
	}
	opts = opts.withDefaults()
	b := &redisBackend{
		quorum:  len(clients)/2 + 1,
		opts:    opts,
		channel: opts.Prefix + "released",
		scripts: newScripts(),
	}
	l := newLocker(b, opts)
	for i, c := range clients {
		if c == nil {
			return nil, fmt.Errorf("lock: NewRedlock: client %d is nil", i)
		}
		b.servers = append(b.servers, &server{client: c, notes: newNotifier(c, b.channel, &l.wait)})
	}
	return l, nil
}

func (b *redisBackend) now() time.Time { return time.Now() }

// rkey is the Redis key of the lock on key.
func (b *redisBackend) rkey(key string) string { return b.opts.Prefix + key }

// keyTTL is the TTL of the lock hash while a lease of ttl is live: it
// outlives the lease to keep the fence counter.
func (b *redisBackend) keyTTL(ttl time.Duration) int64 {
	return max(ttl, b.opts.FenceRetention).Milliseconds()
}

// validity returns the end of validity of a lease of ttl whose first
// request was sent at start, and whether it is still ahead.
func (b *redisBackend) validity(start time.Time, ttl time.Duration) (time.Time, bool) {
	until := start.Add(ttl - b.opts.drift(ttl))
	return until, time.Now().Before(until)
}

func (b *redisBackend) acquire(ctx context.Context, key, token string, ttl time.Duration, mark bool) (grant, error) {
	start := time.Now()
	rkey := b.rkey(key)
	markArg, finalArg := flag(mark), flag(len(b.servers) == 1)
	g := b.gather(ctx, b.all(), func(ctx context.Context, c Client) reply {
		v, err := b.scripts.acquire.Run(ctx, c, []string{rkey}, token, ttl.Milliseconds(), b.keyTTL(ttl), markArg, finalArg).Int64Slice()
		switch {
		case err != nil:
			return reply{state: failed, err: err}
		case len(v) != 2:
			return reply{state: failed, err: fmt.Errorf("acquire script answered %v", v)}
		case v[0] == 1:
			return reply{state: yes, n: v[1]}
		}
		return reply{state: no, n: v[1]}
	}, b.decided)
	replies, t := g.replies, g.tally

	var fence int64
	retryIn := time.Duration(0)
	for _, r := range replies {
		switch r.state {
		case yes:
			fence = max(fence, r.n)
		case no:
			if d := time.Duration(r.n) * time.Millisecond; d > 0 && (retryIn == 0 || d < retryIn) {
				retryIn = d
			}
		}
	}
	late := "" // why a quorum that was taken is not granted
	if t.yes >= b.quorum {
		// The lease's fence must be stored on a quorum before it is
		// granted (see the package doc).
		stored := b.raiseFence(ctx, rkey, token, fence, replies)
		until, valid := b.validity(start, ttl)
		switch {
		case stored < b.quorum:
			late = "lost before its fence was stored on a quorum"
		case !valid:
			late = fmt.Sprintf("its validity (ttl %v less drift) ran out first", ttl)
		default:
			b.follow(ctx, key, token, ttl, g)
			return grant{ok: true, fence: fence, until: until}, nil
		}
	}
	b.cleanup(ctx, key, token, ttl, g)
	if t.failed > len(b.servers)-b.quorum || (late == "" && t.no <= len(b.servers)-b.quorum) {
		return grant{}, b.quorumError(t, replies)
	}
	if late != "" {
		return grant{}, fmt.Errorf("%w: a quorum was taken but %s", ErrUnavailable, late)
	}
	return grant{retryIn: retryIn}, nil
}

// raiseFence records fence as the lease's fence on a quorum of the
// servers that took the lock, raising their counters to it (fence.lua),
// and returns on how many it is known to be recorded. A single server's
// acquire script has recorded it already.
func (b *redisBackend) raiseFence(ctx context.Context, rkey, token string, fence int64, taken []reply) int {
	if len(b.servers) == 1 {
		return 1
	}
	var idx []int
	for i, r := range taken {
		if r.state == yes {
			idx = append(idx, i)
		}
	}
	arg := strconv.FormatInt(fence, 10)
	g := b.gather(ctx, idx, func(ctx context.Context, c Client) reply {
		n, err := b.scripts.fence.Run(ctx, c, []string{rkey}, token, arg).Int64()
		switch {
		case err != nil:
			return reply{state: failed, err: err}
		case n == 1:
			return reply{state: yes}
		}
		return reply{state: no}
	}, func(t tally) bool { return t.yes >= b.quorum || t.yes+t.pending < b.quorum })
	return g.yes
}

// flag is a boolean as a script argument.
func flag(v bool) string {
	if v {
		return "1"
	}
	return "0"
}

// cleanup releases what a failed attempt may have taken: at once on the
// servers that said they took the lock, and in the background on those
// whose reply failed (the script may have run) or was not awaited — the
// latter once that reply has come, so that the release cannot overtake
// the acquisition. Both run even if ctx is done, bounded by ServerTimeout
// and ttl (the locks expire then anyway); the background goroutine exits
// within twice that bound.
//
// These releases are not announced: no holder let go, and waking every
// waiter for them made contention feed on itself. Under Redlock the woken
// waiters tried at once, split the masters among them, all failed, and
// announced their own cleanups in turn; 20 clients taking turns needed
// ten times as long as with notifications off. Waiters blocked by a
// failed attempt's part of the lock find it gone at their next poll.
func (b *redisBackend) cleanup(ctx context.Context, key, token string, ttl time.Duration, g gathered) {
	var taken, unknown []int
	for i, r := range g.replies {
		switch {
		case r.state == yes:
			taken = append(taken, i)
		case r.state == failed:
			unknown = append(unknown, i)
		}
	}
	if pending := g.pending; len(unknown) > 0 || pending > 0 {
		go func() {
			for range pending {
				if got := <-g.rest; got.r.state != no {
					unknown = append(unknown, got.i)
				}
			}
			if len(unknown) > 0 {
				b.undo(ctx, key, token, ttl, unknown)
			}
		}()
	}
	if len(taken) > 0 {
		b.undo(ctx, key, token, ttl, taken)
	}
}

// undo releases, unannounced, the lock token may hold on the servers at
// idx, even if ctx is done, bounded by ServerTimeout and ttl.
func (b *redisBackend) undo(ctx context.Context, key, token string, ttl time.Duration, idx []int) {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), min(ttl, b.opts.ServerTimeout))
	defer cancel()
	rkey := b.rkey(key)
	b.gather(cctx, idx, func(ctx context.Context, c Client) reply {
		_, err := b.runRelease(ctx, c, rkey, key, token, false)
		return reply{err: err}
	}, func(tally) bool { return false })
}

func (b *redisBackend) extend(ctx context.Context, key, token string, ttl time.Duration) (grant, error) {
	start := time.Now()
	rkey := b.rkey(key)
	g := b.gather(ctx, b.all(), func(ctx context.Context, c Client) reply {
		n, err := b.scripts.extend.Run(ctx, c, []string{rkey}, token, ttl.Milliseconds(), b.keyTTL(ttl)).Int64()
		switch {
		case err != nil:
			return reply{state: failed, err: err}
		case n != 0:
			return reply{state: yes, n: n}
		}
		return reply{state: no}
	}, b.decided)
	if g.yes < b.quorum {
		return grant{}, b.outcome(g.tally, g.replies)
	}
	until, valid := b.validity(start, ttl)
	if !valid {
		return grant{}, fmt.Errorf("%w: the extension took longer than its validity (%v)", ErrUnavailable, ttl)
	}
	var fence int64
	for _, r := range g.replies {
		if r.state == yes {
			fence = max(fence, r.n)
		}
	}
	return grant{ok: true, fence: fence, until: until}, nil
}

func (b *redisBackend) release(ctx context.Context, key, token string) error {
	b.late.released(token)
	rkey := b.rkey(key)
	g := b.gather(ctx, b.all(), func(ctx context.Context, c Client) reply {
		n, err := b.runRelease(ctx, c, rkey, key, token, true)
		switch {
		case err != nil:
			return reply{state: failed, err: err}
		case n == 1:
			return reply{state: yes}
		}
		return reply{state: no}
	}, b.decided)
	if g.yes >= b.quorum {
		return nil
	}
	return b.outcome(g.tally, g.replies)
}

// runRelease runs release.lua on one server; announce is set for a
// holder's release, which wakes the key's waiters, and unset by undo,
// which does not.
func (b *redisBackend) runRelease(ctx context.Context, c Client, rkey, key, token string, announce bool) (int64, error) {
	return b.scripts.release.Run(ctx, c, []string{rkey}, token, b.opts.FenceRetention.Milliseconds(), b.channel, key, flag(announce)).Int64()
}

func (b *redisBackend) watch() {
	for _, s := range b.servers {
		s.notes.start()
	}
}

func (b *redisBackend) listen(ctx context.Context) error {
	var errs []error
	for i, s := range b.servers {
		if err := s.notes.listen(ctx); err != nil {
			errs = append(errs, fmt.Errorf("server %d: %w", i, err))
		}
	}
	if len(errs) > 0 {
		return withCtx(ctx, fmt.Errorf("lock: release notifications not live: %w", errors.Join(errs...)))
	}
	return nil
}

func (b *redisBackend) close() error {
	for _, s := range b.servers {
		s.notes.close()
	}
	return nil
}
