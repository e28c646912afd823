package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
)

// Latency buckets, in seconds: from a cached page on loopback to a slow
// report past the default retry budget.
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Session header buckets, in bytes: headers.max_bytes defaults to 4096,
// and app servers commonly refuse headers past 8 KiB.
var headerBuckets = []float64{256, 512, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 16384}

// codeClasses are the values of the code label, indexed by status/100;
// "other" is for a status outside 100-599 (0: nothing was written).
var codeClasses = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// The session events counted, each its own counter.
const (
	sessionCreated = iota
	sessionDestroyed
	sessionRegenerated
	sessionExpired
	sessionRevoked
	sessionEvents
)

var sessionEventNames = [sessionEvents]string{"created", "destroyed", "regenerated", "expired", "revoked"}

var sessionEventHelp = [sessionEvents]string{
	"Sessions created: a response's first write gave a request a session and its cookie.",
	"Sessions destroyed by the app (X-Sidecar-Action: destroy).",
	"Sessions moved to a new token (X-Sidecar-Action: regenerate).",
	"Requests whose cookie verified but whose session was gone when loaded (expired, deleted or revoked).",
	"Sessions revoked through the admin API.",
}

// upstreamSeries are the request metrics of one upstream label value,
// resolved once so a request costs no label lookup.
type upstreamSeries struct {
	byClass  [len(codeClasses)]prometheus.Counter
	duration prometheus.Observer
	upstream prometheus.Observer // nil for "" (no upstream reached)
}

func (m *Metrics) registerRequests() {
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sidecar_requests_total",
		Help: "Requests answered, by status code class (1xx-5xx) and upstream (\"\" when none was reached).",
	}, []string{"code", "upstream"})
	m.requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sidecar_request_duration_seconds",
		Help:    "Time from a request's arrival until its response was written, by upstream.",
		Buckets: durationBuckets,
	}, []string{"upstream"})
	m.upstreamTime = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sidecar_upstream_duration_seconds",
		Help:    "Time from handing a request to the pool until the app's response headers (or the last try's failure), retries included, by upstream.",
		Buckets: durationBuckets,
	}, []string{"upstream"})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sidecar_request_failures_total",
		Help: "Requests that failed, by kind (the access log's error_kind).",
	}, []string{"kind"})
	m.headerBytes = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "sidecar_session_header_bytes",
		Help:    "Length of the X-Sidecar-Session JWT sent to the app.",
		Buckets: headerBuckets,
	})
	m.reg.MustRegister(m.requests, m.requestDuration, m.upstreamTime, m.failures, m.headerBytes)
	for i, name := range sessionEventNames {
		m.sessions[i] = prometheus.NewCounter(prometheus.CounterOpts{
			Name: "sidecar_sessions_" + name + "_total",
			Help: sessionEventHelp[i],
		})
		m.reg.MustRegister(m.sessions[i])
	}
}

// series returns the request metrics of upstream, creating them on first
// use. Upstream names come from the configuration, so their number is
// bounded.
func (m *Metrics) series(upstream string) *upstreamSeries {
	if s, ok := m.byUpstream.Load(upstream); ok {
		return s.(*upstreamSeries)
	}
	s := &upstreamSeries{duration: m.requestDuration.WithLabelValues(upstream)}
	for i := 1; i < len(codeClasses); i++ {
		s.byClass[i] = m.requests.WithLabelValues(codeClasses[i], upstream)
	}
	if upstream != "" {
		s.upstream = m.upstreamTime.WithLabelValues(upstream)
	}
	got, _ := m.byUpstream.LoadOrStore(upstream, s)
	return got.(*upstreamSeries)
}

// Request records one request: it is the proxy.Observer.
func (m *Metrics) Request(r proxy.RequestInfo) {
	if m == nil {
		return
	}
	s := m.series(r.Upstream)
	if c := r.Status / 100; c >= 1 && c < len(codeClasses) {
		s.byClass[c].Inc()
	} else {
		m.requests.WithLabelValues(codeClasses[0], r.Upstream).Inc()
	}
	s.duration.Observe(r.Duration.Seconds())
	if s.upstream != nil && r.UpstreamDuration > 0 {
		s.upstream.Observe(r.UpstreamDuration.Seconds())
	}
	if r.HeaderBytes > 0 {
		m.headerBytes.Observe(float64(r.HeaderBytes))
	}
	switch r.Session {
	case sessions.OutcomeCreated:
		m.sessions[sessionCreated].Inc()
	case sessions.OutcomeDestroyed:
		m.sessions[sessionDestroyed].Inc()
	case sessions.OutcomeRegenerated:
		m.sessions[sessionRegenerated].Inc()
	}
	if r.Expired {
		m.sessions[sessionExpired].Inc()
	}
	if r.Error != "" {
		m.failures.WithLabelValues(r.Error).Inc()
	}
}

// Revoked counts n sessions revoked through the admin API
// (sidecar_sessions_revoked_total): the admin handler calls it with the
// number a revoke removed. On a nil *Metrics it does nothing.
func (m *Metrics) Revoked(n int) {
	if m == nil || n <= 0 {
		return
	}
	m.sessions[sessionRevoked].Add(float64(n))
}
