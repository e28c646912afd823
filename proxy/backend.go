package proxy

import (
	"net/url"
	"sync/atomic"
	"time"
)

// Upstream is one app server as configured.
type Upstream struct {
	// Name identifies the upstream in logs, the admin API and affinity
	// routes.
	Name string
	// URL is where requests go; its path is prefixed to the request's.
	URL *url.URL
	// Weight is its share of traffic relative to the others; 0 means 1.
	Weight int
}

// Backend is an Upstream with its live state. All state is atomic, so
// selection, health checks, passive ejection and the admin API never take a
// lock on the request path.
type Backend struct {
	Upstream

	weight       atomic.Int64 // current weight (Update may change it in place)
	healthy      atomic.Bool  // active health verdict (true until a check says otherwise)
	draining     atomic.Bool  // set by the admin API: no new requests
	ejectedUntil atomic.Int64 // unix nanos: ejected (not 0) until readmitted; probed from then
	probing      atomic.Bool  // a probe-back loop is running
	fails        atomic.Int32 // consecutive passive failures
	ejections    atomic.Int32 // consecutive ejections without a success between (backoff)
	capped       atomic.Bool  // an ejection was refused by the cap and logged, this failure streak
	passes       atomic.Int32 // consecutive active-check passes (toward healthy)
	misses       atomic.Int32 // consecutive active-check failures (toward unhealthy)
	inflight     atomic.Int64
	served       atomic.Uint64
	failures     atomic.Uint64
	ejected      atomic.Uint64 // ejections, re-ejections after a failed probe included
	stop         chan struct{} // closed when the backend leaves the pool
	healthStop   chan struct{} // closes this backend's health loop; guarded by Pool.mu
}

func newBackend(u Upstream) *Backend {
	if u.Weight <= 0 {
		u.Weight = 1
	}
	b := &Backend{Upstream: u, stop: make(chan struct{})}
	b.weight.Store(int64(u.Weight))
	b.healthy.Store(true)
	return b
}

// available reports whether the backend may take a new request at now.
func (b *Backend) available() bool {
	return b.healthy.Load() && !b.draining.Load() && b.ejectedUntil.Load() == 0
}

// State is a point-in-time view of a backend for the admin API.
type State struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	Weight   int    `json:"weight"`
	State    string `json:"state"` // up, draining, ejected, unhealthy
	Healthy  bool   `json:"healthy"`
	Draining bool   `json:"draining"`
	Ejected  bool   `json:"ejected"`
	InFlight int64  `json:"in_flight"`
	Served   uint64 `json:"served"`
	Failures uint64 `json:"failures"`
	// Ejections counts the times it was ejected, re-ejections after a
	// failed probe included.
	Ejections uint64 `json:"ejections"`
}

// Available reports whether the upstream may take a new request: it is
// healthy, not ejected and not draining (State "up").
func (s State) Available() bool { return s.State == "up" }

func (b *Backend) state(now time.Time) State {
	s := State{
		Name:     b.Name,
		URL:      b.URL.String(),
		Weight:   int(b.weight.Load()),
		Healthy:  b.healthy.Load(),
		Draining: b.draining.Load(),
		Ejected:  b.ejectedUntil.Load() != 0,
		InFlight: b.inflight.Load(),
		Served:   b.served.Load(),
		Failures: b.failures.Load(),

		Ejections: b.ejected.Load(),
	}
	switch {
	case s.Draining:
		s.State = "draining"
	case !s.Healthy:
		s.State = "unhealthy"
	case s.Ejected:
		s.State = "ejected"
	default:
		s.State = "up"
	}
	return s
}
