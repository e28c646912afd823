package integration

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

const adminToken = "integration-admin-token-0123456789"

// TestDrainThroughCLI is the deploy script's first step, through the real
// binary and its admin API: `sidecar upstreams drain app1` returns only
// once app1's in-flight request has finished; from then on app1 gets no new
// request while load continues; `undrain` brings it back.
func TestDrainThroughCLI(t *testing.T) {
	rs := redistest.Start(t)
	app1, app2 := startApp(t, "app1"), startApp(t, "app2")
	spec := poolSpec(rs.Addr(), app1, app2)
	spec.Set["admin.listen"] = freeAddr(t)
	spec.Set["admin.token"] = adminToken
	sc := startSidecarProc(t, spec)

	// Two slow requests: round robin puts one on each app.
	type slow struct {
		server string
		done   time.Time
	}
	results := make(chan slow, 2)
	for range 2 {
		go func() {
			resp, err := http.Get(sc.URL() + "/slow?d=1500ms")
			if err != nil {
				results <- slow{}
				return
			}
			defer resp.Body.Close()
			var v struct{ Server string }
			_ = json.NewDecoder(resp.Body).Decode(&v)
			results <- slow{server: v.Server, done: time.Now()}
		}()
	}
	require.Eventually(t, func() bool {
		out, code := runSidecar(t, nil, "upstreams", "list", "--json", "--config", sc.cfgPath)
		return code == 0 && countInFlight(t, out, "app1") == 1 && countInFlight(t, out, "app2") == 1
	}, 10*time.Second, 20*time.Millisecond, "both slow requests in flight")

	out, code := runSidecar(t, nil, "upstreams", "drain", "app1", "--config", sc.cfgPath, "--interval", "20ms")
	drained := time.Now()
	require.Equal(t, 0, code, out)
	var app1Done time.Time
	for range 2 {
		r := <-results
		require.NotEmpty(t, r.server, "a slow request failed")
		if r.server == "app1" {
			app1Done = r.done
		}
	}
	require.False(t, app1Done.IsZero(), "one slow request ran on app1")
	assert.False(t, drained.Before(app1Done), "drain returned only after app1's in-flight request finished")

	l := startLoad(t, sc.URL(), loadOptions{Clients: 4})
	before := app1.served()
	l.progress(300)
	assert.Equal(t, before, app1.served(), "a drained upstream gets no new request")

	out, code = runSidecar(t, nil, "upstreams", "undrain", "app1", "--wait-healthy", "--config", sc.cfgPath)
	require.Equal(t, 0, code, out)
	app1.waitServing(before + 20)
	stats := l.Stop()
	t.Logf("load: %s", stats)
	assert.Empty(t, stats.Failures, "draining fails no request")
	assert.Empty(t, l.verifySessions())
	sc.stop()
}

func countInFlight(t *testing.T, listJSON, name string) int64 {
	var v struct {
		Upstreams []struct {
			Name     string `json:"name"`
			InFlight int64  `json:"in_flight"`
		} `json:"upstreams"`
	}
	if json.Unmarshal([]byte(listJSON), &v) != nil {
		return -1
	}
	for _, u := range v.Upstreams {
		if u.Name == name {
			return u.InFlight
		}
	}
	return -1
}

// TestSidecarUpgradeUnderLoad upgrades Sidecar itself under load: a second
// sidecar process started with the same config takes the listening socket
// over, the first drains and exits 0, and no client sees a refused
// connection or a failed request. New connections are opened all along
// (a client that dials per request) besides the kept-alive load.
func TestSidecarUpgradeUnderLoad(t *testing.T) {
	rs := redistest.Start(t)
	app1, app2 := startApp(t, "app1"), startApp(t, "app2")
	spec := poolSpec(rs.Addr(), app1, app2)
	spec.Listen = freeAddr(t)
	spec.Set["server.handover_socket"] = filepath.Join(t.TempDir(), "sidecar.sock")
	spec.Set["admin.listen"] = freeAddr(t)
	spec.Set["admin.token"] = adminToken
	old := startSidecarProc(t, spec)

	l := startLoad(t, old.URL(), loadOptions{})
	dialer := startLoad(t, old.URL(), loadOptions{Clients: 2, FreshConns: true})
	l.progress(300)
	dialer.progress(100)

	next := startSidecarProc(t, spec)
	require.Equal(t, 0, old.p.wait(), "the old sidecar drains and exits cleanly\n%s", old.p.dump())
	l.progress(300)
	dialer.progress(100)

	stats, dstats := l.Stop(), dialer.Stop()
	t.Logf("kept-alive load: %s", stats)
	t.Logf("dial-per-request load: %s", dstats)
	assert.Empty(t, stats.Failures, "kept-alive clients see no failure across the upgrade")
	assert.Empty(t, dstats.Failures, "clients dialling per request see no refused connection")
	assert.Empty(t, l.verifySessions())
	assert.Positive(t, next.count("handover: took over the listening socket"))
	out, code := runSidecar(t, nil, "upstreams", "list", "--config", next.cfgPath)
	assert.Equal(t, 0, code, "the admin listener was handed over too: %s", out)
	next.stop()
}
