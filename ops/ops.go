// Package ops is the handler of Sidecar's operations listener (ops.listen):
// the probes a load balancer, Kubernetes or a container runtime sends, and
// the metrics Prometheus scrapes. It has no token: it tells whether
// Sidecar serves and how well, and changes nothing.
//
//	GET /healthz  liveness: 200 "ok" while the process serves
//	GET /readyz   readiness: 200 or 503, with a JSON body listing each check
//	GET /metrics  the Prometheus handler given in Options.Metrics
//	GET /.well-known/jwks.json  the public keys of the session header
//	              (Options.JWKS), 404 under HS256
//	GET /debug/pprof/  Go's runtime profiles, only with Options.Pprof
//
// # Readiness
//
// /readyz answers from state that a background goroutine keeps: every
// Interval it asks the session store for a key no session has (a Load
// answered "not found" is a store that answers), bounded by Timeout. A
// probe therefore never waits on a stalled store. The upstreams are read
// from the pool, in memory, at each probe.
//
// It answers 503 until the store has answered once, and whenever no
// upstream is available (healthy, not ejected, not draining: draining
// every upstream takes the instance out of its load balancer). A later
// store outage shows in the body (and in metrics) but turns /readyz 503
// only with Options.StoreRequired: a store shared by a fleet that goes
// down would otherwise empty every load balancer's pool at once.
//
// # Probing
//
// [Probe] and [ProbeURL] are the client side, what `sidecar health` runs
// (a container image's HEALTHCHECK, where no curl is installed).
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
)

// The defaults of Options' zero values.
const (
	DefaultInterval = time.Second
	DefaultTimeout  = 2 * time.Second
)

// Upstreams is what readiness reads of the pool; *proxy.Pool implements
// it.
type Upstreams interface {
	States() []proxy.State
}

var _ Upstreams = (*proxy.Pool)(nil)

// Options configure a Handler. Store and Pool are required; the zero
// value of every other field is its stated default.
type Options struct {
	// Store is the session store the background check asks. Required.
	Store sessions.Store
	// Pool gives the upstreams' states. Required.
	Pool Upstreams
	// Metrics serves GET /metrics; nil answers it 404.
	Metrics http.Handler
	// JWKS returns the current JWKS document of the session header's keys
	// (headers.algorithm EdDSA or ES256), which GET
	// /.well-known/jwks.json serves; it is called on every request, so a
	// key rotation shows at once. nil, or a nil document (HS256), answers
	// 404 with a JSON error.
	JWKS func() []byte
	// StoreRequired makes a store outage after the first answer turn
	// /readyz 503 (ops.readiness_includes_store). Default false: only the
	// first answer is required.
	StoreRequired bool
	// Interval is the time between two store checks; 0 means
	// DefaultInterval (1s).
	Interval time.Duration
	// Timeout bounds one store check; 0 means DefaultTimeout (2s).
	Timeout time.Duration
	// Logger receives the store's changes of state (down, back); the zero
	// Logger discards them.
	Logger zerolog.Logger
	// Pprof serves Go's runtime profiles under PprofPrefix (ops.pprof;
	// see handlePprof for the risk). Default false: 404.
	Pprof bool
}

// Handler serves the ops listener. Create it with New, start its
// background check with Start, stop it with Close.
type Handler struct {
	opts Options
	mux  *http.ServeMux
	log  zerolog.Logger

	mu    sync.Mutex
	store storeState

	ctx      context.Context // cancelled by Close: ends the background check
	cancel   context.CancelFunc
	done     chan struct{} // closed when the background check returned
	started  atomic.Bool
	startOne sync.Once
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler for opts, or an error naming the missing option.
// It checks nothing until Start.
func New(opts Options) (*Handler, error) {
	switch {
	case opts.Store == nil:
		return nil, errors.New("ops: Options.Store is required")
	case opts.Pool == nil:
		return nil, errors.New("ops: Options.Pool is required")
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	h := &Handler{opts: opts, log: opts.Logger, mux: http.NewServeMux(), done: make(chan struct{})}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.mux.HandleFunc("GET /healthz", h.healthz)
	h.mux.HandleFunc("GET /readyz", h.readyz)
	if opts.Metrics != nil {
		h.mux.Handle("GET /metrics", opts.Metrics)
	}
	h.mux.HandleFunc("GET "+JWKSPath, h.jwks)
	if opts.Pprof {
		handlePprof(h.mux)
	}
	return h, nil
}

// ServeHTTP answers GET (and HEAD) /healthz, /readyz, /metrics and
// /.well-known/jwks.json (and /debug/pprof/ with Options.Pprof, whose
// symbol lookup also takes POST); any other path is 404 and any other
// method 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// Report is the body of /readyz.
type Report struct {
	// Status is "ready" (200) or "not ready" (503).
	Status string `json:"status"`
	// Checks are the store and the upstreams, in that order.
	Checks []Check `json:"checks"`
}

// Check is one readiness check in a Report.
type Check struct {
	// Name is "store" or "upstreams".
	Name string `json:"name"`
	// OK says whether the check passes.
	OK bool `json:"ok"`
	// Required says whether a failure of this check makes Sidecar not
	// ready. The store is required until it first answered, and after
	// that only with readiness_includes_store.
	Required bool `json:"required"`
	// Detail says what was found, for people.
	Detail string `json:"detail"`
	// Since is when the check last changed between passing and failing
	// (the store only; omitted before its first check).
	Since *time.Time `json:"since,omitempty"`
	// Error is the store's last error while it fails.
	Error string `json:"error,omitempty"`
}

func (h *Handler) readyz(w http.ResponseWriter, _ *http.Request) {
	rep := h.Report()
	w.Header().Set("Content-Type", "application/json")
	if rep.Status != statusReady {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(rep)
}

const (
	statusReady    = "ready"
	statusNotReady = "not ready"
)

// Report evaluates readiness now, from the last store check and the
// pool's current state, without I/O.
func (h *Handler) Report() Report {
	checks := []Check{h.storeCheck(), upstreamsCheck(h.opts.Pool.States())}
	rep := Report{Status: statusReady, Checks: checks}
	for _, c := range checks {
		if c.Required && !c.OK {
			rep.Status = statusNotReady
		}
	}
	return rep
}

// Ready reports whether /readyz answers 200 now.
func (h *Handler) Ready() bool { return h.Report().Status == statusReady }

// upstreamsCheck passes when at least one upstream may take a request.
func upstreamsCheck(states []proxy.State) Check {
	c := Check{Name: "upstreams", Required: true}
	n := 0
	for _, s := range states {
		if s.Available() {
			n++
		}
	}
	c.OK = n > 0
	c.Detail = fmt.Sprintf("%d of %d upstreams available (healthy, not ejected, not draining)", n, len(states))
	return c
}
