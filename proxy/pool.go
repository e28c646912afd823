package proxy

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// ErrNoUpstream: no upstream may take the request: every one is draining
// or was already tried by this request, or, with panic mode off
// (PoolOptions.PanicThreshold < 0), every one is down, draining or
// ejected. The client gets a quick 503.
var ErrNoUpstream = errors.New("proxy: no upstream available")

// ErrUnknownUpstream: the admin API named an upstream the pool does not
// have.
var ErrUnknownUpstream = errors.New("proxy: unknown upstream")

// HealthCheck configures active health checks. An empty Path disables
// them; the zero value of every other field is its stated default.
type HealthCheck struct {
	// Path is requested on each upstream (GET, with the upstream's Host).
	Path string
	// Interval between checks of one upstream; 0 means
	// DefaultHealthInterval (5s).
	Interval time.Duration
	// Timeout of one check; 0 means DefaultHealthTimeout (2s).
	Timeout time.Duration
	// HealthyThreshold consecutive passes mark an upstream healthy; 0
	// means DefaultHealthyThreshold (2).
	HealthyThreshold int
	// UnhealthyThreshold consecutive failures mark it unhealthy; 0 means
	// DefaultUnhealthyThreshold (2).
	UnhealthyThreshold int
	// ExpectStatus is the status a pass must have; 0 means any 2xx or 3xx.
	ExpectStatus int
}

func (h HealthCheck) withDefaults() HealthCheck {
	if h.Interval <= 0 {
		h.Interval = DefaultHealthInterval
	}
	if h.Timeout <= 0 {
		h.Timeout = DefaultHealthTimeout
	}
	if h.HealthyThreshold <= 0 {
		h.HealthyThreshold = DefaultHealthyThreshold
	}
	if h.UnhealthyThreshold <= 0 {
		h.UnhealthyThreshold = DefaultUnhealthyThreshold
	}
	return h
}

// Passive configures outlier detection on live traffic, as Envoy, HAProxy
// and nginx do it: MaxFails consecutive connection failures or timeouts
// eject an upstream. The first ejection lasts BaseEjection, each further
// one without a successful response in between twice as long as the last,
// up to Cooldown. When an ejection runs out the upstream is probed (the
// health check path, or a TCP connect without one): a pass readmits it, a
// failure ejects it again. It gets no request until then, however late a
// busy machine runs the probe: live traffic is not what finds out whether
// it is back (which would eject it again, and double the wait, on the
// first refused connection). A passing active health check readmits it at
// once. Ejection never takes out more than MaxEjectionPercent of the
// non-draining upstreams, nor the last available one: a failure that would
// is counted but does not eject. Only upstream faults count: a client that
// sends a broken body or goes away is not the upstream's failure.
type Passive struct {
	// MaxFails is the number of consecutive failures that eject; 0
	// disables passive ejection.
	MaxFails int
	// Cooldown is the longest an ejection lasts before its probe, the cap
	// of the backoff; 0 means DefaultCooldown (10s).
	Cooldown time.Duration
	// BaseEjection is how long the first ejection lasts before its probe;
	// 0 means DefaultBaseEjection (1s). It is capped at Cooldown.
	BaseEjection time.Duration
	// MaxEjectionPercent caps the share of the non-draining upstreams that
	// may be ejected at once, from 1 to 100; 0 means
	// DefaultMaxEjectionPercent (50), negative ejects none (failures are
	// still counted). However high, the last available upstream is never
	// ejected.
	MaxEjectionPercent int
}

func (pa Passive) withDefaults() Passive {
	if pa.Cooldown <= 0 {
		pa.Cooldown = DefaultCooldown
	}
	if pa.BaseEjection <= 0 {
		pa.BaseEjection = DefaultBaseEjection
	}
	pa.BaseEjection = min(pa.BaseEjection, pa.Cooldown)
	if pa.MaxEjectionPercent == 0 {
		pa.MaxEjectionPercent = DefaultMaxEjectionPercent
	}
	pa.MaxEjectionPercent = min(pa.MaxEjectionPercent, 100)
	return pa
}

// PoolOptions configure a Pool. The zero value of each optional field is
// its stated default.
type PoolOptions struct {
	// Upstreams are the app servers. Required: at least one, unique names.
	Upstreams []Upstream
	// Policy picks among available upstreams; "" means RoundRobin.
	Policy Policy
	// Health configures active checks (off when Health.Path is "").
	Health HealthCheck
	// Passive configures ejection on failures (off when MaxFails is 0).
	Passive Passive
	// PanicThreshold is the percentage of the non-draining upstreams that
	// must be available (healthy and not ejected) for health and ejection
	// to be obeyed, from 1 to 100; 0 means DefaultPanicThreshold (50),
	// negative never panics. Below it the pool is in panic mode: requests
	// go to every non-draining upstream, whatever its verdicts, rather than
	// being answered 503. Draining upstreams are never used.
	PanicThreshold int
	// Affinity routes legacy sticky-session cookies to their upstream.
	Affinity Affinity
	// Retry bounds retries on another upstream.
	Retry RetryOptions
}

func (o PoolOptions) validate() error {
	if len(o.Upstreams) == 0 {
		return errors.New("proxy: at least one upstream is required")
	}
	seen := map[string]bool{}
	for i, u := range o.Upstreams {
		switch {
		case u.URL == nil:
			return fmt.Errorf("proxy: upstream %d (%q) has no URL", i, u.Name)
		case u.Name == "":
			return fmt.Errorf("proxy: upstream %d has no name", i)
		case seen[u.Name]:
			return fmt.Errorf("proxy: upstream name %q is used twice", u.Name)
		}
		seen[u.Name] = true
	}
	if o.Policy != "" {
		if err := o.Policy.Validate(); err != nil {
			return fmt.Errorf("proxy: policy: %w", err)
		}
	}
	return o.Affinity.validate(seen)
}

// poolState is one immutable generation of the pool; Update swaps in a new
// one atomically, so a request sees either the old or the new set whole.
type poolState struct {
	backends []*Backend
	byName   map[string]*Backend
	sel      selector
	opts     PoolOptions
}

// Pool is the set of upstreams with their health, and the choice of one
// for each request. It is safe for concurrent use. Health-check and
// probe goroutines run until Close (or until their upstream is removed by
// Update).
type Pool struct {
	state     atomic.Pointer[poolState]
	mu        sync.Mutex // serialises Update and Close
	ejectMu   sync.Mutex // serialises ejections and readmissions, so the cap holds
	panicking atomic.Bool
	transport http.RoundTripper
	log       zerolog.Logger
	now       func() time.Time
	// after returns a channel that fires after d and a func that stops it;
	// tests replace it to drive probe-back loops step by step.
	after  func(d time.Duration) (<-chan time.Time, func() bool)
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewPool returns a Pool over opts.Upstreams. transport carries health
// checks (nil means NewTransport defaults). Call Close to stop its
// goroutines.
func NewPool(opts PoolOptions, transport http.RoundTripper, log zerolog.Logger) (*Pool, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if transport == nil {
		transport = NewTransport(TransportOptions{})
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pool{transport: transport, log: log, now: time.Now, after: realAfter, ctx: ctx, cancel: cancel}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.install(opts, nil)
	return p, nil
}

// install builds a generation from opts, carrying over the live state of
// backends whose name and URL are unchanged, and starts or stops health
// loops to match. p.mu must be held.
func (p *Pool) install(opts PoolOptions, old *poolState) {
	path := opts.Health.Path
	opts.Health = opts.Health.withDefaults()
	opts.Health.Path = path
	opts.Passive = opts.Passive.withDefaults()
	if opts.PanicThreshold == 0 {
		opts.PanicThreshold = DefaultPanicThreshold
	}
	opts.Retry = opts.Retry.withDefaults()
	st := &poolState{byName: make(map[string]*Backend, len(opts.Upstreams)), opts: opts}
	kept := map[*Backend]bool{}
	for _, u := range opts.Upstreams {
		var b *Backend
		if old != nil {
			if ob := old.byName[u.Name]; ob != nil && ob.URL.String() == u.URL.String() {
				b = ob
				kept[b] = true
				w := u.Weight
				if w <= 0 {
					w = 1
				}
				b.weight.Store(int64(w))
			}
		}
		if b == nil {
			b = newBackend(u)
		}
		st.backends = append(st.backends, b)
		st.byName[u.Name] = b
	}
	st.sel = newSelector(opts.Policy, st.backends)
	if old != nil {
		for _, ob := range old.backends {
			if !kept[ob] {
				close(ob.stop) // its health and probe loops exit
			}
		}
	}
	healthChanged := old == nil || old.opts.Health != opts.Health
	p.state.Store(st)
	for _, b := range st.backends {
		if !healthChanged && kept[b] {
			continue
		}
		if b.healthStop != nil {
			close(b.healthStop)
			b.healthStop = nil
		}
		if path == "" {
			b.healthy.Store(true) // no active checks: health is not a reason to skip it
			continue
		}
		b.healthStop = make(chan struct{})
		p.startHealth(b, opts.Health, b.healthStop)
	}
}

// Update replaces the upstream set and its settings without dropping a
// request: in-flight requests finish on the backend they have, backends
// kept by name and URL keep their state (health, draining, counters).
func (p *Pool) Update(opts PoolOptions) error {
	if err := opts.validate(); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx.Err() != nil {
		return errors.New("proxy: pool is closed")
	}
	p.install(opts, p.state.Load())
	return nil
}

// Close stops every health-check and probe goroutine and waits for them.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.cancel()
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

func realAfter(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// pick chooses the backend for one attempt of r, skipping those in tried.
// A legacy affinity cookie wins while its upstream is available. In panic
// mode every non-draining upstream counts as available.
func (p *Pool) pick(r *http.Request, tried []*Backend) (*Backend, error) {
	st := p.state.Load()
	panicking := p.panicMode(st)
	if len(tried) == 0 {
		if b := st.opts.Affinity.route(r, st.byName); b != nil && !skip(b, nil, panicking) {
			return b, nil
		}
	}
	if b := st.sel.pick(st.backends, tried, panicking); b != nil {
		return b, nil
	}
	return nil, ErrNoUpstream
}

// States lists every upstream's state, in configured order.
func (p *Pool) States() []State {
	st := p.state.Load()
	now := p.now()
	out := make([]State, len(st.backends))
	for i, b := range st.backends {
		out[i] = b.state(now)
	}
	return out
}

// SetDraining drains (on) or undrains (off) the named upstream. A
// draining upstream gets no new request; its in-flight ones finish.
func (p *Pool) SetDraining(name string, on bool) (State, error) {
	b := p.state.Load().byName[name]
	if b == nil {
		return State{}, fmt.Errorf("%w: %q", ErrUnknownUpstream, name)
	}
	if b.draining.Swap(on) != on {
		p.log.Info().Str("upstream", name).Bool("draining", on).Msg("upstream drain state changed")
	}
	return b.state(p.now()), nil
}
