package metrics_test

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/ops/metrics"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// gathered is the registry's content: family name -> family.
type gathered map[string]*dto.MetricFamily

func gather(t *testing.T, m *metrics.Metrics) gathered {
	t.Helper()
	mfs, err := m.Registry().Gather()
	require.NoError(t, err)
	out := gathered{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// metric returns the sample of family name whose labels include want, or
// nil.
func (g gathered) metric(name string, want map[string]string) *dto.Metric {
	mf := g[name]
	if mf == nil {
		return nil
	}
next:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// value is the counter or gauge value of the sample, failing the test
// when there is none.
func (g gathered) value(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	m := g.metric(name, labels)
	require.NotNil(t, m, "no sample of %s with %v", name, labels)
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	t.Fatalf("%s is neither a counter nor a gauge", name)
	return 0
}

// count is the observation count of a histogram sample.
func (g gathered) count(t *testing.T, name string, labels map[string]string) uint64 {
	t.Helper()
	m := g.metric(name, labels)
	require.NotNil(t, m, "no sample of %s with %v", name, labels)
	require.NotNil(t, m.Histogram, "%s is not a histogram", name)
	return m.Histogram.GetSampleCount()
}

func TestRequests(t *testing.T) {
	m := metrics.New(metrics.Options{})
	m.Request(proxy.RequestInfo{Status: 200, Upstream: "app1", Duration: 3 * time.Millisecond,
		UpstreamDuration: 2 * time.Millisecond, Session: sessions.OutcomeCreated, HeaderBytes: 700})
	m.Request(proxy.RequestInfo{Status: 204, Upstream: "app1", Session: sessions.OutcomeRegenerated, HeaderBytes: 900})
	m.Request(proxy.RequestInfo{Status: 302, Upstream: "app2", Session: sessions.OutcomeDestroyed, Expired: true})
	m.Request(proxy.RequestInfo{Status: 503, Error: "store_unavailable", Expired: true})
	m.Request(proxy.RequestInfo{Status: 0, Upstream: "app2", Error: "client_canceled"})
	m.Revoked(3)
	m.Revoked(0)

	g := gather(t, m)
	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"sidecar_requests_total", map[string]string{"code": "2xx", "upstream": "app1"}, 2},
		{"sidecar_requests_total", map[string]string{"code": "5xx", "upstream": "app1"}, 0},
		{"sidecar_requests_total", map[string]string{"code": "3xx", "upstream": "app2"}, 1},
		{"sidecar_requests_total", map[string]string{"code": "other", "upstream": "app2"}, 1},
		{"sidecar_requests_total", map[string]string{"code": "5xx", "upstream": ""}, 1},
		{"sidecar_request_failures_total", map[string]string{"kind": "store_unavailable"}, 1},
		{"sidecar_request_failures_total", map[string]string{"kind": "client_canceled"}, 1},
		{"sidecar_sessions_created_total", nil, 1},
		{"sidecar_sessions_regenerated_total", nil, 1},
		{"sidecar_sessions_destroyed_total", nil, 1},
		{"sidecar_sessions_expired_total", nil, 2},
		{"sidecar_sessions_revoked_total", nil, 3},
	} {
		assert.Equal(t, tt.want, g.value(t, tt.name, tt.labels), "%s %v", tt.name, tt.labels)
	}
	assert.Equal(t, uint64(2), g.count(t, "sidecar_request_duration_seconds", map[string]string{"upstream": "app1"}))
	assert.Equal(t, uint64(1), g.count(t, "sidecar_upstream_duration_seconds", map[string]string{"upstream": "app1"}),
		"a request without upstream time is not observed")
	assert.Nil(t, g.metric("sidecar_upstream_duration_seconds", map[string]string{"upstream": ""}),
		"no upstream time series for requests that reached none")
	assert.Equal(t, uint64(2), g.count(t, "sidecar_session_header_bytes", nil))
	assert.Contains(t, g, "go_goroutines", "the Go runtime collector")
	assert.Contains(t, g, "process_open_fds", "the process collector")

	var none *metrics.Metrics
	none.Request(proxy.RequestInfo{Status: 200}) // no panic
	none.Revoked(1)
}

// failingStore answers every call with err.
type failingStore struct {
	sessions.Store
	err error
}

func (f failingStore) Load(context.Context, string, *sessions.Touch) (*sessions.Record, error) {
	return nil, f.err
}

func TestStoreDecorator(t *testing.T) {
	m := metrics.New(metrics.Options{})
	mem := memory.New(memory.Options{})
	t.Cleanup(func() { _ = mem.Close() })
	s := m.Store(mem)
	assert.Same(t, sessions.Store(mem), s.Unwrap())
	ctx := t.Context()
	now := time.Now().Truncate(time.Millisecond)
	rec := &sessions.Record{Version: 1, Created: now, IdleExp: now.Add(time.Hour), AbsExp: now.Add(time.Hour), Principal: "alice"}

	require.NoError(t, s.Create(ctx, "k1", rec))
	require.ErrorIs(t, s.Create(ctx, "k1", rec), sessions.ErrExists)
	_, err := s.Load(ctx, "k1", nil)
	require.NoError(t, err)
	_, err = s.Load(ctx, "missing", nil)
	require.ErrorIs(t, err, sessions.ErrNotFound)
	_, err = s.Apply(ctx, "k1", &sessions.Delta{BaseVersion: 7})
	require.ErrorIs(t, err, sessions.ErrConflict)
	_, err = s.Regenerate(ctx, "k1", "k2", &sessions.Delta{})
	require.NoError(t, err)
	keys, err := s.ByPrincipal(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, []string{"k2"}, keys)
	require.NoError(t, s.Delete(ctx, "k2"))

	broken := m.Store(failingStore{Store: mem, err: errors.New("connection refused")})
	_, err = broken.Load(ctx, "k", nil)
	require.Error(t, err)
	canceled := m.Store(failingStore{Store: mem, err: context.Canceled})
	_, err = canceled.Load(ctx, "k", nil)
	require.ErrorIs(t, err, context.Canceled)

	g := gather(t, m)
	for op, want := range map[string]uint64{"create": 2, "load": 4, "apply": 1, "regenerate": 1, "by_principal": 1, "delete": 1} {
		assert.Equal(t, want, g.count(t, "sidecar_store_operation_duration_seconds", map[string]string{"op": op}), op)
	}
	for op, want := range map[string]float64{"load": 1, "create": 0, "apply": 0} {
		assert.Equal(t, want, g.value(t, "sidecar_store_errors_total", map[string]string{"op": op}),
			"%s: only a store that failed counts, not its answers nor a cancellation", op)
	}
}

func TestPoolCollector(t *testing.T) {
	u1, _ := url.Parse("http://127.0.0.1:1")
	u2, _ := url.Parse("http://127.0.0.1:2")
	pool, err := proxy.NewPool(proxy.PoolOptions{Upstreams: []proxy.Upstream{{Name: "a", URL: u1}, {Name: "b", URL: u2}}},
		nil, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	m := metrics.New(metrics.Options{})
	m.WatchPool(pool)

	g := gather(t, m)
	assert.Equal(t, 1.0, g.value(t, "sidecar_upstream_healthy", map[string]string{"upstream": "a"}))
	assert.Equal(t, 0.0, g.value(t, "sidecar_upstream_draining", map[string]string{"upstream": "a"}))
	assert.Equal(t, 0.0, g.value(t, "sidecar_upstream_in_flight", map[string]string{"upstream": "b"}))
	assert.Equal(t, 0.0, g.value(t, "sidecar_upstream_ejections_total", map[string]string{"upstream": "b"}))
	assert.Equal(t, 2.0, g.value(t, "sidecar_pool_available_upstreams", nil))
	assert.Equal(t, 0.0, g.value(t, "sidecar_pool_panic_mode", nil))

	_, err = pool.SetDraining("a", true)
	require.NoError(t, err)
	g = gather(t, m)
	assert.Equal(t, 1.0, g.value(t, "sidecar_upstream_draining", map[string]string{"upstream": "a"}))
	assert.Equal(t, 1.0, g.value(t, "sidecar_upstream_healthy", map[string]string{"upstream": "a"}), "draining is not unhealthy")
	assert.Equal(t, 1.0, g.value(t, "sidecar_pool_available_upstreams", nil))

	require.NoError(t, pool.Update(proxy.PoolOptions{Upstreams: []proxy.Upstream{{Name: "b", URL: u2}}}))
	g = gather(t, m)
	assert.Nil(t, g.metric("sidecar_upstream_healthy", map[string]string{"upstream": "a"}), "a reload removed it")
}

func TestLockCollector(t *testing.T) {
	l := lock.NewLocal(lock.Options{})
	t.Cleanup(func() { _ = l.Close() })
	m := metrics.New(metrics.Options{})
	m.WatchLocker(l)

	ctx := t.Context()
	lease, err := l.Acquire(ctx, "k", time.Minute, 0)
	require.NoError(t, err)
	_, err = l.Acquire(ctx, "k", time.Minute, time.Millisecond) // waits, then gives up
	require.ErrorIs(t, err, lock.ErrNotObtained)
	require.NoError(t, lease.Release(ctx))

	g := gather(t, m)
	assert.Equal(t, 1.0, g.value(t, "sidecar_lock_acquired_total", nil))
	assert.Equal(t, 1.0, g.value(t, "sidecar_lock_contended_total", nil))
	assert.Equal(t, 1.0, g.value(t, "sidecar_lock_waits_total", nil))
	assert.Equal(t, 1.0, g.value(t, "sidecar_lock_timeouts_total", nil))
	assert.Equal(t, 0.0, g.value(t, "sidecar_lock_waiting", nil))
	assert.Greater(t, g.value(t, "sidecar_lock_wait_seconds_total", nil), 0.0)
}

func TestReadinessGauges(t *testing.T) {
	m := metrics.New(metrics.Options{})
	up, ready := true, false
	m.WatchReadiness(func() bool { return up }, func() bool { return ready })
	g := gather(t, m)
	assert.Equal(t, 1.0, g.value(t, "sidecar_store_up", nil))
	assert.Equal(t, 0.0, g.value(t, "sidecar_ready", nil))
}
