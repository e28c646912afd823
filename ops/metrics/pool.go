package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sidecarproxy/sidecar/proxy"
)

// PoolState is what the pool collector reads at each scrape; *proxy.Pool
// implements it.
type PoolState interface {
	States() []proxy.State
	Panicking() bool
}

var _ PoolState = (*proxy.Pool)(nil)

// poolCollector reads the upstream pool when scraped, so that upstreams a
// reload adds or removes appear and disappear with it.
type poolCollector struct {
	pool                                     PoolState
	healthy, draining, inFlight, ejections   *prometheus.Desc
	served, failures, panicMode, upstreamsUp *prometheus.Desc
}

// WatchPool adds the pool's metrics, read from pool at each scrape: per
// upstream sidecar_upstream_healthy, _draining, _in_flight,
// _ejections_total, _served_total and _failures_total, and
// sidecar_pool_panic_mode and sidecar_pool_available_upstreams. Call it
// once. The request metrics of the upstreams pool has now are created at
// zero, so that they are scraped before the first request.
func (m *Metrics) WatchPool(pool PoolState) {
	for _, s := range pool.States() {
		m.series(s.Name)
	}
	up := []string{"upstream"}
	m.reg.MustRegister(&poolCollector{
		pool: pool,
		healthy: prometheus.NewDesc("sidecar_upstream_healthy",
			"1 when the upstream passes its health checks (always, without active checks) and is not ejected, else 0. Draining is separate.", up, nil),
		draining: prometheus.NewDesc("sidecar_upstream_draining",
			"1 while the upstream is drained through the admin API (it gets no new request), else 0.", up, nil),
		inFlight: prometheus.NewDesc("sidecar_upstream_in_flight",
			"Requests in flight to the upstream.", up, nil),
		ejections: prometheus.NewDesc("sidecar_upstream_ejections_total",
			"Times the upstream was ejected by passive outlier detection, re-ejections after a failed probe included.", up, nil),
		served: prometheus.NewDesc("sidecar_upstream_served_total",
			"Tries that got response headers from the upstream.", up, nil),
		failures: prometheus.NewDesc("sidecar_upstream_failures_total",
			"Tries that failed on the upstream (connection failures, timeouts, broken responses).", up, nil),
		panicMode: prometheus.NewDesc("sidecar_pool_panic_mode",
			"1 while the pool is in panic mode (too few upstreams available: health and ejection are ignored), else 0.", nil, nil),
		upstreamsUp: prometheus.NewDesc("sidecar_pool_available_upstreams",
			"Upstreams that may take a new request: healthy, not ejected, not draining.", nil, nil),
	})
}

func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.healthy, c.draining, c.inFlight, c.ejections, c.served, c.failures, c.panicMode, c.upstreamsUp} {
		ch <- d
	}
}

func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	available := 0
	for _, s := range c.pool.States() {
		healthy := s.Healthy && !s.Ejected
		if s.Available() {
			available++
		}
		ch <- prometheus.MustNewConstMetric(c.healthy, prometheus.GaugeValue, boolValue(healthy), s.Name)
		ch <- prometheus.MustNewConstMetric(c.draining, prometheus.GaugeValue, boolValue(s.Draining), s.Name)
		ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(s.InFlight), s.Name)
		ch <- prometheus.MustNewConstMetric(c.ejections, prometheus.CounterValue, float64(s.Ejections), s.Name)
		ch <- prometheus.MustNewConstMetric(c.served, prometheus.CounterValue, float64(s.Served), s.Name)
		ch <- prometheus.MustNewConstMetric(c.failures, prometheus.CounterValue, float64(s.Failures), s.Name)
	}
	ch <- prometheus.MustNewConstMetric(c.panicMode, prometheus.GaugeValue, boolValue(c.pool.Panicking()))
	ch <- prometheus.MustNewConstMetric(c.upstreamsUp, prometheus.GaugeValue, float64(available))
}
