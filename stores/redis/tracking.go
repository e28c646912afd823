package redisstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// DefaultCacheStaleness is CacheOptions.Staleness's default.
const DefaultCacheStaleness = 50 * time.Millisecond

const (
	// invalidateChannel is where Redis sends the invalidation messages of
	// a client tracking keys with REDIRECT to a RESP2 connection.
	invalidateChannel = "__redis__:invalidate"
	// heartbeatTTL is how long a heartbeat key outlives its last write.
	heartbeatTTL = time.Minute
	// minLossTimeout is the least time a heartbeat may take before the
	// channel counts as lost.
	minLossTimeout = time.Second
	// setupTimeout bounds setting up the channels of every master.
	setupTimeout = 5 * time.Second
	// retryMin and retryMax bound the wait between attempts at setting
	// the channels up again.
	retryMin, retryMax = 50 * time.Millisecond, 2 * time.Second
	// tagTries bounds the search for a heartbeat key on each master.
	tagTries = 1 << 16
)

// errStopped: the tracker was stopped (Close).
var errStopped = errors.New("redis store: cache: stopped")

// tracker keeps the cache in step with Redis. On every master it holds
// a pair of connections: one subscribed to __redis__:invalidate (RESP2,
// so it works whatever protocol the store's client speaks), and one that
// sends CLIENT TRACKING ON REDIRECT <the first's id> BCAST PREFIX
// <Prefix>s: PREFIX <Prefix>hb:<name>:, after which the master reports
// every write to a session key, by anyone, on the first, and every
// write to this tracker's heartbeat keys. It heartbeats the pairs: every
// interval it writes a heartbeat key on every master, through the
// store's own client (so routed as session writes are), and waits for
// that key's invalidation to come back.
//
// A master sends the invalidations of one event loop iteration in one
// go, before the replies of that iteration, and in order on the
// subscriber's connection. So once the heartbeat sent at instant s is
// back, the invalidation of every write the master committed before it
// has been applied here, and a write whose invalidation has not was
// committed after s (a write in the heartbeat's own iteration too: that
// iteration began after the heartbeat arrived, so after s). The cache
// may then serve until s + staleness: nothing it serves is staler than
// that. A heartbeat that is late leaves the cache bypassed from then on;
// one missing for lossAfter, a broken connection, a master that is no
// longer one (ROLE) or a changed cluster slot map (CLUSTER SLOTS) is a
// loss: the cache is flushed and bypassed, and the pairs are set up
// anew. Nothing is served from the cache before the first heartbeat of
// the new pairs is back.
type tracker struct {
	client    redis.UniversalClient
	cache     *cache
	prefix    string // of session keys: Prefix+"s:"
	hbPrefix  string // of this tracker's heartbeat keys: Prefix+"hb:"+a random name+":"
	staleness time.Duration
	interval  time.Duration
	lossAfter time.Duration
	base      time.Time // origin of validUntil, on the monotonic clock
	// validUntil is when the cache stops being usable, in nanoseconds
	// since base; 0 means not usable. Written under vmu.
	validUntil atomic.Int64
	// gen is bumped by every loss: a heartbeat begun before one proves
	// nothing. Written under vmu.
	gen atomic.Uint64
	vmu sync.Mutex

	life   context.Context // ends with close
	cancel context.CancelFunc
	done   chan struct{} // closed when run has returned

	mu      sync.Mutex
	lastErr error // why the cache last stopped being usable
	pairs   []*pair
	tracked map[string]bool // cluster masters with a pair, by address
	topo    string          // the cluster's slot map when the pairs were set up
	// onChange is CacheOptions.OnChange; reported is what it was last
	// told (0: nothing yet, 1: usable, 2: not).
	onChange func(usable bool, err error)
	reported int
}

// pair is the invalidation channel of one master.
type pair struct {
	addr    string // the master's address on a cluster, else ""
	hbKey   string // this tracker's heartbeat key on that master
	sub     *redis.Client
	ps      *redis.PubSub
	trk     *redis.Client
	conn    *redis.Conn   // the tracking connection
	beat    chan struct{} // a heartbeat's invalidation came back
	done    chan struct{} // closed when the receiver has returned
	closing atomic.Bool
}

// newTracker returns a tracker for the sessions under prefix (the
// store's), keeping c fresh with a staleness bound of staleness.
func newTracker(client redis.UniversalClient, c *cache, prefix string, staleness time.Duration) *tracker {
	life, cancel := context.WithCancel(context.Background())
	return &tracker{
		client:    client,
		cache:     c,
		prefix:    prefix + "s:",
		hbPrefix:  prefix + "hb:" + newNonce()[:12] + ":",
		staleness: staleness,
		interval:  staleness / 4,
		lossAfter: max(minLossTimeout, 4*staleness),
		base:      time.Now(),
		life:      life,
		cancel:    cancel,
		done:      make(chan struct{}),
	}
}

// usable reports whether the cache may answer a read now.
func (t *tracker) usable() bool {
	v := t.validUntil.Load()
	return v != 0 && int64(time.Since(t.base)) < v
}

// serves reports whether a read from the cluster master at addr may fill
// the cache: only a master whose writes this tracker hears of.
func (t *tracker) serves(addr string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.tracked[addr]
}

// lose makes the cache unusable at once and flushes it, recording why.
func (t *tracker) lose(err error) {
	t.vmu.Lock()
	t.validUntil.Store(0)
	t.gen.Add(1)
	t.vmu.Unlock()
	t.cache.flush()
	if err != nil {
		t.mu.Lock()
		t.lastErr = err
		t.mu.Unlock()
		t.report(false, err)
	}
}

// report tells onChange that the cache is (or is not) usable, unless it
// was last told so.
func (t *tracker) report(usable bool, err error) {
	state := 2
	if usable {
		state = 1
	}
	t.mu.Lock()
	tell := t.onChange != nil && t.reported != state && !errors.Is(err, errStopped)
	if tell {
		t.reported = state
	}
	t.mu.Unlock()
	if tell {
		t.onChange(usable, err)
	}
}

// err returns why the cache last stopped being usable.
func (t *tracker) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastErr
}

// run sets the pairs up and heartbeats them until close, setting them up
// again after every loss. It exits when stop is closed.
func (t *tracker) run() {
	defer close(t.done)
	wait := retryMin
	for {
		err := t.setup()
		if err == nil {
			wait = retryMin
			err = t.heartbeat()
		}
		t.teardown()
		if t.life.Err() != nil {
			t.lose(errStopped)
			return
		}
		t.lose(err)
		timer := time.NewTimer(wait)
		select {
		case <-t.life.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		wait = min(2*wait, retryMax)
	}
}

// close stops the tracker and waits for it.
func (t *tracker) close() {
	t.cancel()
	<-t.done
}

// target is a master to set a pair up on.
type target struct {
	addr   string
	client *redis.Client
	hbKey  string
}

// setup makes a pair on every master and arms the cache: it flushes it,
// so that no read begun before the masters tracked may fill it.
func (t *tracker) setup() error {
	ctx, cancel := context.WithTimeout(t.life, setupTimeout)
	defer cancel()
	topo, err := t.topology(ctx)
	if err != nil {
		return err
	}
	targets, err := t.targets(ctx, topo)
	if err != nil {
		return err
	}
	pairs := make([]*pair, 0, len(targets))
	tracked := make(map[string]bool, len(targets))
	for _, tg := range targets {
		p, err := t.dial(ctx, tg)
		if err != nil {
			for _, p := range pairs {
				p.close()
			}
			return fmt.Errorf("redis store: cache: setting up tracking on %q: %w", tg.addr, err)
		}
		pairs = append(pairs, p)
		tracked[tg.addr] = true
	}
	t.mu.Lock()
	t.pairs, t.tracked, t.topo = pairs, tracked, topo.fingerprint
	t.mu.Unlock()
	t.cache.flush()
	return nil
}

// teardown closes the pairs.
func (t *tracker) teardown() {
	t.mu.Lock()
	pairs := t.pairs
	t.pairs, t.tracked = nil, nil
	t.mu.Unlock()
	for _, p := range pairs {
		p.close()
	}
}

// hbKey is the heartbeat key of this tracker's gen-th set-up, with tag as
// its cluster hash tag.
func (t *tracker) hbKey(gen uint64, tag int) string {
	return t.hbPrefix + strconv.FormatUint(gen, 10) + ":{" + strconv.Itoa(tag) + "}"
}

// targets lists the masters to track: the client's server, or every
// master of a cluster that can hold session keys, each with a heartbeat
// key that lives on it.
func (t *tracker) targets(ctx context.Context, topo clusterTopology) ([]target, error) {
	gen := t.gen.Load()
	switch c := t.client.(type) {
	case *redis.Client:
		return []target{{client: c, hbKey: t.hbKey(gen, 0)}}, nil
	case *redis.ClusterClient:
		return t.clusterTargets(ctx, c, gen, topo)
	}
	return nil, fmt.Errorf("redis store: cache: unsupported client %T", t.client)
}

// clusterTargets is targets on a cluster: the masters the client knows,
// which must be those CLUSTER SLOTS names (want), each with a heartbeat
// key the client routes to it. A master no key under the prefix can
// live on (a prefix with a hash tag pins every key to one slot) is left
// out: no session lives there, and reads from it fill nothing.
func (t *tracker) clusterTargets(ctx context.Context, cc *redis.ClusterClient, gen uint64, want clusterTopology) ([]target, error) {
	var mu sync.Mutex
	masters := map[string]*redis.Client{}
	if err := cc.ForEachMaster(ctx, func(_ context.Context, c *redis.Client) error {
		mu.Lock()
		masters[c.Options().Addr] = c
		mu.Unlock()
		return nil
	}); err != nil {
		return nil, err
	}
	for _, addr := range want.masters {
		if masters[addr] == nil {
			cc.ReloadState(ctx)
			return nil, fmt.Errorf("redis store: cache: the client does not know master %s yet", addr)
		}
	}
	var targets []target
	for tag := 0; tag < tagTries && len(targets) < len(masters); tag++ {
		key := t.hbKey(gen, tag)
		n, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return nil, err
		}
		addr := n.Options().Addr
		if masters[addr] != nil && !slices.ContainsFunc(targets, func(tg target) bool { return tg.addr == addr }) {
			targets = append(targets, target{addr: addr, client: masters[addr], hbKey: key})
		}
	}
	return targets, nil
}

// clusterTopology is what CLUSTER SLOTS says: a fingerprint of the slot
// map, and the masters.
type clusterTopology struct {
	fingerprint string
	masters     []string
}

// topology reads the cluster's slot map (nil off a cluster).
func (t *tracker) topology(ctx context.Context) (clusterTopology, error) {
	cc, ok := t.client.(*redis.ClusterClient)
	if !ok {
		return clusterTopology{}, nil
	}
	slots, err := cc.ClusterSlots(ctx).Result()
	if err != nil {
		return clusterTopology{}, fmt.Errorf("redis store: cache: reading the cluster's slots: %w", err)
	}
	slices.SortFunc(slots, func(a, b redis.ClusterSlot) int { return a.Start - b.Start })
	var b strings.Builder
	var masters []string
	for _, s := range slots {
		if len(s.Nodes) == 0 {
			continue
		}
		m := s.Nodes[0]
		fmt.Fprintf(&b, "%d-%d=%s@%s;", s.Start, s.End, m.ID, m.Addr)
		if !slices.Contains(masters, m.Addr) {
			masters = append(masters, m.Addr)
		}
	}
	return clusterTopology{fingerprint: b.String(), masters: masters}, nil
}

// dial sets up the pair of tg: the subscriber first (its client id is
// where the tracking connection redirects), then the tracking
// connection, both over RESP2 clients of their own built from tg's
// options.
func (t *tracker) dial(ctx context.Context, tg target) (*pair, error) {
	opt := *tg.client.Options()
	opt.Protocol = 2
	opt.PoolSize, opt.MinIdleConns, opt.MaxIdleConns = 1, 0, 1
	opt.MaxRetries = -1
	opt.ContextTimeoutEnabled = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	opt.PushNotificationProcessor = nil
	opt.ClientSideCacheConfig, opt.ClientSideCache = nil, nil
	subOpt := opt
	var subID atomic.Int64
	onConnect := opt.OnConnect
	subOpt.OnConnect = func(ctx context.Context, cn *redis.Conn) error {
		if onConnect != nil {
			if err := onConnect(ctx, cn); err != nil {
				return err
			}
		}
		id, err := cn.ClientID(ctx).Result()
		subID.Store(id)
		return err
	}
	p := &pair{addr: tg.addr, hbKey: tg.hbKey, beat: make(chan struct{}, 1), done: make(chan struct{})}
	p.sub = redis.NewClient(&subOpt)
	p.trk = redis.NewClient(&opt)
	p.ps = p.sub.Subscribe(ctx, invalidateChannel)
	p.conn = p.trk.Conn()
	msg, err := p.ps.Receive(ctx)
	if err == nil {
		if s, ok := msg.(*redis.Subscription); !ok || s.Kind != "subscribe" {
			err = fmt.Errorf("unexpected reply to SUBSCRIBE: %v", msg)
		}
	}
	if err == nil {
		err = p.conn.Do(ctx, "CLIENT", "TRACKING", "ON", "REDIRECT", subID.Load(), "BCAST",
			"PREFIX", t.prefix, "PREFIX", t.hbPrefix).Err()
	}
	if err != nil {
		close(p.done)
		p.close()
		return nil, err
	}
	go p.receive(t)
	return p, nil
}

// close closes the pair's connections and waits for its receiver.
func (p *pair) close() {
	p.closing.Store(true)
	_ = p.ps.Close()
	_ = p.conn.Close()
	_ = p.sub.Close()
	_ = p.trk.Close()
	<-p.done
}

// receive reads the pair's invalidations until its connection fails or
// the pair is closed: it drops every session key named from the cache,
// then signals a heartbeat of its own that came back. A failure (a
// dropped connection, a flush that names no key, go-redis subscribing
// again after a reconnect, which means messages were lost) is a loss.
func (p *pair) receive(t *tracker) {
	defer close(p.done)
	for {
		msg, err := p.ps.Receive(context.Background())
		if err == nil {
			if s, ok := msg.(*redis.Subscription); ok {
				err = fmt.Errorf("resubscribed (%s) after a reconnect", s.Kind)
			}
		}
		if err != nil {
			if !p.closing.Load() {
				t.lose(fmt.Errorf("redis store: cache: invalidation channel of %q: %w", p.addr, err))
			}
			return
		}
		m, ok := msg.(*redis.Message)
		if !ok || m.Channel != invalidateChannel {
			continue
		}
		if m.PayloadSlice == nil { // a PUBLISH by hand: vouch for nothing
			t.cache.flush()
			continue
		}
		beat := false
		for _, k := range m.PayloadSlice {
			if k == p.hbKey {
				beat = true
			} else if key, ok := strings.CutPrefix(k, t.prefix); ok {
				t.cache.invalidate(key)
			}
		}
		if beat {
			select {
			case p.beat <- struct{}{}:
			default:
			}
		}
	}
}
