package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sidecarproxy/sidecar/lock"
)

// LockStats is what the lock collector reads at each scrape; *lock.Locker
// implements it.
type LockStats interface {
	Stats() lock.Stats
}

var _ LockStats = (*lock.Locker)(nil)

// lockMetric is one field of lock.Stats as a metric.
type lockMetric struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(lock.Stats) float64
}

// lockCollector reads the locker's counters when scraped.
type lockCollector struct {
	locker  LockStats
	metrics []lockMetric
}

// WatchLocker adds the locker's counters (session locks and the lock
// service's alike), read from locker at each scrape: sidecar_lock_*. Call
// it once.
func (m *Metrics) WatchLocker(locker LockStats) {
	counter := func(name, help string, v func(lock.Stats) int64) lockMetric {
		return lockMetric{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue,
			func(s lock.Stats) float64 { return float64(v(s)) }}
	}
	m.reg.MustRegister(&lockCollector{locker: locker, metrics: []lockMetric{
		counter("sidecar_lock_acquired_total", "Locks granted.",
			func(s lock.Stats) int64 { return s.Acquired }),
		counter("sidecar_lock_contended_total", "Acquires whose first attempt found the lock held by another.",
			func(s lock.Stats) int64 { return s.Contended }),
		counter("sidecar_lock_waits_total", "Acquires that waited for the lock.",
			func(s lock.Stats) int64 { return s.Waited }),
		{prometheus.NewDesc("sidecar_lock_waiting", "Acquires waiting for a lock now.", nil, nil), prometheus.GaugeValue,
			func(s lock.Stats) float64 { return float64(s.Waiting) }},
		{prometheus.NewDesc("sidecar_lock_wait_seconds_total", "Time acquires spent waiting, whether or not they got the lock.", nil, nil),
			prometheus.CounterValue, func(s lock.Stats) float64 { return s.WaitTime.Seconds() }},
		counter("sidecar_lock_timeouts_total", "Acquires that gave up: the wait bound passed (session locks: 503, or served without the lock with on_timeout proceed) or the caller went away.",
			func(s lock.Stats) int64 { return s.NotObtained }),
		counter("sidecar_lock_lost_total", "Leases found lost before their release.",
			func(s lock.Stats) int64 { return s.Lost }),
		counter("sidecar_lock_errors_total", "Lock attempts, extensions and releases that failed for want of Redis.",
			func(s lock.Stats) int64 { return s.Errors }),
	}})
}

func (c *lockCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

func (c *lockCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.locker.Stats()
	for _, m := range c.metrics {
		ch <- prometheus.MustNewConstMetric(m.desc, m.kind, m.value(s))
	}
}
