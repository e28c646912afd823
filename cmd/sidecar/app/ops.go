package app

import (
	"fmt"

	"github.com/sidecarproxy/sidecar/ops"
	"github.com/sidecarproxy/sidecar/ops/metrics"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/server"
	"github.com/sidecarproxy/sidecar/sessions"
)

// opsParts are the operations listener's pieces (ops.listen): the
// metrics, and the store as it was before they timed it, which the
// readiness check asks so that its probes stay out of the store metrics.
// All nil while ops.listen is off: then nothing is measured.
type opsParts struct {
	metrics  *metrics.Metrics
	rawStore sessions.Store
}

// instrumentStore wraps m.store in the store metrics, when ops.listen is
// on; it creates the metrics.
func (m *Main) instrumentStore() {
	if !m.cfg.Ops.Enabled() {
		return
	}
	m.ops.metrics = metrics.New(metrics.Options{Logger: m.log.With().Str("log", "metrics").Logger()})
	m.ops.rawStore = m.store
	m.store = m.ops.metrics.Store(m.store)
}

// observer is the proxy's Observer: the metrics, or nil (not a typed nil)
// when they are off.
func (m *Main) observer() proxy.Observer {
	if m.ops.metrics == nil {
		return nil
	}
	return m.ops.metrics
}

// Metrics are the program's metrics, nil while ops.listen is off. Its
// Revoked method, safe on nil, counts sessions revoked through the admin
// API.
func (m *Main) Metrics() *metrics.Metrics { return m.ops.metrics }

// opsSide is the operations listener's side server (off unless ops.listen
// is set): the probes, with their background store check started unless
// preflight, and the metrics, watching the pool and the locker. It runs
// after buildProxy and openLocker.
func (m *Main) opsSide(preflight bool) (server.Side, error) {
	c := m.cfg.Ops
	if !c.Enabled() {
		return server.Side{}, nil
	}
	met := m.ops.metrics
	h, err := ops.New(ops.Options{
		Store:         m.ops.rawStore,
		Pool:          m.pool,
		Metrics:       met.Handler(),
		JWKS:          m.proxy.JWKS,
		StoreRequired: c.ReadinessIncludesStore,
		Pprof:         c.Pprof,
		Timeout:       m.cfg.Store.Timeout,
		Logger:        m.log.With().Str("log", "ops").Logger(),
	})
	if err != nil {
		return server.Side{}, fmt.Errorf("ops: %w", err)
	}
	met.WatchPool(m.pool)
	if m.locker != nil {
		met.WatchLocker(m.locker)
	}
	met.WatchReadiness(h.StoreUp, h.Ready)
	if !preflight {
		h.Start()
		m.onClose(h.Close)
	}
	return server.Side{Listen: c.Listen, Handler: h}, nil
}

// OpsAddr is the operations listener's address, or "" when it is off.
func (m *Main) OpsAddr() string { return m.server().OpsAddr() }
