// Package metrics is Sidecar's Prometheus instrumentation: the proxy's
// Observer, a decorator that times every session store operation, and
// collectors that read the upstream pool and the locker when scraped. All
// of it lives in one prometheus.Registry per Metrics, never in the global
// default registry, so that tests and several programs in one process
// never share counters.
//
//	m := metrics.New(metrics.Options{Logger: log})
//	store = m.Store(store)               // sidecar_store_*
//	p, _ := proxy.New(proxy.Options{Observer: m, ...})
//	m.WatchPool(p.Pool())                // sidecar_upstream_*, sidecar_pool_*
//	m.WatchLocker(locker)                // sidecar_lock_*
//	http.Handle("/metrics", m.Handler()) // Prometheus text format
//
// Every metric is named sidecar_*, besides the Go runtime's (go_*) and
// the process's (process_*); docs/operations.md lists them with their
// types and labels. Nothing here blocks on I/O: the store decorator adds
// two clock readings to each operation, the Observer a handful of atomic
// additions to each request, and the collectors read in-memory state.
//
// A nil *Metrics is valid for the methods that record events (Request,
// Revoked): they do nothing, so callers wired without metrics need no
// check.
package metrics

import (
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/proxy"
)

// DefaultScrapeTimeout bounds one scrape of Handler.
const DefaultScrapeTimeout = 10 * time.Second

// Options configure Metrics. The zero value is ready to use.
type Options struct {
	// Logger receives errors met while collecting or serving metrics; the
	// zero Logger discards them.
	Logger zerolog.Logger
}

// Metrics holds Sidecar's metrics and the registry they are gathered
// from. Create it with New; it is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry
	log zerolog.Logger

	requests        *prometheus.CounterVec   // code, upstream
	requestDuration *prometheus.HistogramVec // upstream
	upstreamTime    *prometheus.HistogramVec // upstream
	failures        *prometheus.CounterVec   // kind
	headerBytes     prometheus.Histogram
	sessions        [sessionEvents]prometheus.Counter
	byUpstream      sync.Map // upstream name -> *upstreamSeries

	storeOps    *prometheus.HistogramVec // op
	storeErrors *prometheus.CounterVec   // op
}

// New returns Metrics on a registry of their own, with the Go runtime and
// process collectors and every request, session and store metric
// registered (at zero until something happens). The pool, locker and
// readiness metrics are added by WatchPool, WatchLocker and
// WatchReadiness.
func New(opts Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), log: opts.Logger}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.registerRequests()
	m.registerStore()
	return m
}

// Registry is the registry the metrics live in, for a caller that adds
// its own collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format (or
// OpenMetrics, or gzip, as the scraper asks). A collector that fails does
// not fail the scrape: the rest is served and the error logged. A scrape
// is bounded by DefaultScrapeTimeout.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      errorLog{m.log},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg, // promhttp_metric_handler_errors_total
		Timeout:       DefaultScrapeTimeout,
	})
}

// WatchReadiness adds sidecar_store_up and sidecar_ready, read from
// storeUp and ready at each scrape (the ops handler's background checks).
// Call it once.
func (m *Metrics) WatchReadiness(storeUp, ready func() bool) {
	m.reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sidecar_store_up",
			Help: "1 when the last background check reached the session store, else 0.",
		}, func() float64 { return boolValue(storeUp()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "sidecar_ready",
			Help: "1 when /readyz answers 200, else 0.",
		}, func() float64 { return boolValue(ready()) }),
	)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// errorLog sends promhttp's errors to the structured log.
type errorLog struct{ log zerolog.Logger }

func (e errorLog) Println(v ...any) {
	e.log.Warn().Str("log", "metrics").Msg(fmt.Sprint(v...))
}

var _ proxy.Observer = (*Metrics)(nil)
