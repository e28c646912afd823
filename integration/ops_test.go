package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/app"
	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/ops"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// opsConfig is baseConfig on the Redis at addr, with the operations
// listener on a free port and a short store timeout, so that a paused
// Redis shows within a second or two.
func opsConfig(t *testing.T, addr string) *config.Config {
	c := baseConfig(newApp(t, "app1").URL)
	c.Store.Type = config.StoreRedis
	c.Store.Redis.Addrs = []string{addr}
	c.Store.Timeout = 500 * time.Millisecond
	c.Ops.Listen = "127.0.0.1:0"
	return c
}

// opsGet sends GET path to the operations listener of m and returns the
// status and body.
func opsGet(t *testing.T, m *app.Main, path string) (int, string) {
	t.Helper()
	require.NotEmpty(t, m.OpsAddr(), "ops.listen is on")
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+m.OpsAddr()+path, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "GET %s", path)
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	require.NoError(t, err)
	if path == "/metrics" {
		require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
		assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4"),
			"the Prometheus text format: %s", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, string(b)
}

// readiness is GET /readyz: its status and its decoded body.
func readiness(t *testing.T, m *app.Main) (int, ops.Report) {
	t.Helper()
	code, body := opsGet(t, m, "/readyz")
	var rep ops.Report
	require.NoError(t, json.Unmarshal([]byte(body), &rep), body)
	require.Len(t, rep.Checks, 2, body)
	require.Equal(t, "store", rep.Checks[0].Name)
	return code, rep
}

// waitReadiness polls /readyz until cond holds, asserting on every poll
// that /healthz stays 200.
func waitReadiness(t *testing.T, m *app.Main, what string, cond func(int, ops.Report) bool) (int, ops.Report) {
	t.Helper()
	var code int
	var rep ops.Report
	waitUntil(t, what, func() (bool, string) {
		hc, _ := opsGet(t, m, "/healthz")
		require.Equal(t, http.StatusOK, hc, "/healthz stays 200 throughout")
		code, rep = readiness(t, m)
		return cond(code, rep), fmt.Sprintf("%d %+v", code, rep)
	})
	return code, rep
}

// scrape reads /metrics with Prometheus's own text parser.
func scrape(t *testing.T, m *app.Main) scraped {
	t.Helper()
	_, body := opsGet(t, m, "/metrics")
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(body))
	require.NoError(t, err, "the Prometheus text parser reads /metrics")
	return mfs
}

// scraped is one scrape: family name -> family.
type scraped map[string]*dto.MetricFamily

// sample returns the value of family name's sample with exactly labels
// (a counter or gauge value, or a histogram's count), and whether there
// is one.
func (s scraped) sample(name string, labels map[string]string) (float64, bool) {
	mf := s[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				match = false
			}
		}
		switch {
		case !match:
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// TestOpsMetricsMoveWithRequests: requests through a Sidecar on real
// Redis move the counters of its /metrics, which Prometheus's text parser
// reads.
func TestOpsMetricsMoveWithRequests(t *testing.T) {
	rs := redistest.Start(t)
	m, base := startSidecar(t, opsConfig(t, rs.Addr()))

	appReqs := map[string]string{"code": "2xx", "upstream": "app"}
	loads := map[string]string{"op": "load"}
	before := scrape(t, m)
	for _, name := range []string{"sidecar_requests_total", "sidecar_store_operation_duration_seconds",
		"sidecar_upstream_healthy", "sidecar_sessions_created_total", "go_goroutines", "process_resident_memory_bytes"} {
		_, ok := before[name]
		require.True(t, ok, "%s is scraped before any request", name)
	}
	reqs0, _ := before.sample("sidecar_requests_total", appReqs)
	loads0, _ := before.sample("sidecar_store_operation_duration_seconds", loads)
	created0, _ := before.sample("sidecar_sessions_created_total", nil)

	c := &client{t: t}
	requireOK(t, c.do(base, "/login?user=ann", nil), "login")
	const reads = 5
	for i := range reads {
		requireOK(t, c.do(base, "/set?k=n&v="+fmt.Sprint(i), nil), "write %d", i)
	}
	// The observer runs once each handler returns, which may be just
	// after the client has its answer.
	var after scraped
	waitUntil(t, "the requests in sidecar_requests_total", func() (bool, string) {
		after = scrape(t, m)
		n, _ := after.sample("sidecar_requests_total", appReqs)
		return n == reqs0+1+reads, fmt.Sprintf("sidecar_requests_total%v = %v, was %v", appReqs, n, reqs0)
	})

	n, ok := after.sample("sidecar_store_operation_duration_seconds", loads)
	require.True(t, ok)
	assert.GreaterOrEqual(t, n, loads0+reads, "a Redis load per request with a cookie")
	n, _ = after.sample("sidecar_sessions_created_total", nil)
	assert.Equal(t, created0+1, n, "the login created one session")
	n, _ = after.sample("sidecar_upstream_healthy", map[string]string{"upstream": "app"})
	assert.Equal(t, 1.0, n, "sidecar_upstream_healthy")
	n, _ = after.sample("sidecar_session_header_bytes", nil)
	assert.GreaterOrEqual(t, n, float64(1+reads))
	n, ok = after.sample("sidecar_store_errors_total", loads)
	assert.True(t, ok)
	assert.Zero(t, n)
	waitUntil(t, "sidecar_ready 1", func() (bool, string) {
		n, _ := scrape(t, m).sample("sidecar_ready", nil)
		return n == 1, fmt.Sprint(n)
	})
}

// TestOpsReadyzBeforeTheStoreAnswers: a Sidecar started while its Redis
// is paused is not ready (but alive) until Redis answers.
func TestOpsReadyzBeforeTheStoreAnswers(t *testing.T) {
	rs := redistest.Start(t)
	rs.Pause()
	m, _ := startSidecar(t, opsConfig(t, rs.Addr()))

	code, rep := waitReadiness(t, m, "a store check that failed", func(_ int, r ops.Report) bool { return r.Checks[0].Since != nil })
	assert.Equal(t, http.StatusServiceUnavailable, code, "503 before the store was first reached")
	assert.Equal(t, "not ready", rep.Status)
	assert.False(t, rep.Checks[0].OK)
	assert.Contains(t, rep.Checks[0].Detail, "not reached yet")
	assert.True(t, rep.Checks[1].OK, "the upstream is up")
	n, _ := scrape(t, m).sample("sidecar_store_up", nil)
	assert.Zero(t, n, "sidecar_store_up")

	rs.Resume()
	waitReadiness(t, m, "ready once Redis answers", func(c int, _ ops.Report) bool { return c == http.StatusOK })
}

// TestOpsReadyzThroughAStoreOutage: Redis frozen (SIGSTOP) after it
// answered makes /readyz 503 only with readiness_includes_store; either
// way the outage shows in its body and in sidecar_store_up, /healthz
// stays 200, and all is well again after SIGCONT.
func TestOpsReadyzThroughAStoreOutage(t *testing.T) {
	for _, includes := range []bool{false, true} {
		t.Run(fmt.Sprintf("readiness_includes_store=%v", includes), func(t *testing.T) {
			rs := redistest.Start(t)
			c := opsConfig(t, rs.Addr())
			c.Ops.ReadinessIncludesStore = includes
			m, _ := startSidecar(t, c)
			waitReadiness(t, m, "ready", func(c int, _ ops.Report) bool { return c == http.StatusOK })

			rs.Pause()
			code, rep := waitReadiness(t, m, "the outage in /readyz's body", func(_ int, r ops.Report) bool { return !r.Checks[0].OK })
			if includes {
				if code == http.StatusOK { // the body and the status are read at once: they agree
					t.Fatalf("store down with readiness_includes_store, yet 200: %+v", rep)
				}
				assert.Equal(t, "not ready", rep.Status)
			} else {
				assert.Equal(t, http.StatusOK, code, "a later outage does not make it unready by default")
				assert.Equal(t, "ready", rep.Status)
			}
			assert.NotEmpty(t, rep.Checks[0].Error)
			assert.Equal(t, includes, rep.Checks[0].Required)
			n, _ := scrape(t, m).sample("sidecar_store_up", nil)
			assert.Zero(t, n, "sidecar_store_up during the outage")

			rs.Resume()
			waitReadiness(t, m, "ready with the store up after SIGCONT", func(c int, r ops.Report) bool {
				return c == http.StatusOK && r.Checks[0].OK
			})
		})
	}
}

// TestOpsPprof: ops.pprof puts Go's runtime profiles on the operations
// listener of a whole Sidecar (bench/pgo.sh takes its CPU profiles
// there); without it they are 404.
func TestOpsPprof(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("ops.pprof=%v", on), func(t *testing.T) {
			c := baseConfig(newApp(t, "app1").URL)
			c.Ops.Listen = "127.0.0.1:0"
			c.Ops.Pprof = on
			m, _ := startSidecar(t, c)
			code, body := opsGet(t, m, "/debug/pprof/goroutine?debug=1")
			if !on {
				assert.Equal(t, http.StatusNotFound, code, body)
				return
			}
			require.Equal(t, http.StatusOK, code, body)
			assert.Contains(t, body, "goroutine profile:")
			code, body = opsGet(t, m, "/debug/pprof/")
			assert.Equal(t, http.StatusOK, code)
			assert.Contains(t, body, "profile")
			code, _ = opsGet(t, m, "/healthz")
			assert.Equal(t, http.StatusOK, code)
		})
	}
}
