package integration

import (
	"encoding/json"
	"path/filepath"
	"testing"

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

	// Two requests held in the apps until the test releases them: round
	// robin puts one on each.
	const gate = "drain"
	held := make(chan reply, 2)
	for range 2 {
		go func() { // exits when the held request is answered
			r, err := (&client{}).try(sc.URL(), "/hold?gate="+gate, nil)
			if err != nil {
				r.Body = err.Error()
			}
			held <- r
		}()
	}
	app1.waitStats("holding one request", func(s appStats) bool { return s.Held == 1 })
	app2.waitStats("holding one request", func(s appStats) bool { return s.Held == 1 })
	out, code := runSidecar(t, nil, "upstreams", "list", "--json", "--config", sc.cfgPath)
	require.Equal(t, 0, code, out)
	require.Equal(t, int64(1), countInFlight(t, out, "app1"), "Sidecar counts app1's held request in flight: %s", out)
	require.Equal(t, int64(1), countInFlight(t, out, "app2"), "Sidecar counts app2's held request in flight: %s", out)

	drained := startSidecarCmd(t, "upstreams", "drain", "app1", "--config", sc.cfgPath, "--interval", "20ms")
	waitUntil(t, "app1 to be draining", func() (bool, string) {
		out, code := runSidecar(t, nil, "upstreams", "list", "--json", "--config", sc.cfgPath)
		return code == 0 && upstreamState(out, "app1") == "draining", out
	})
	select {
	case r := <-drained:
		t.Fatalf("drain returned while app1's request was still in flight: exit %d\n%s", r.code, r.out)
	default:
	}
	app1.release(gate)
	app2.release(gate)
	r := receive(t, drained, "`upstreams drain app1` to return")
	require.NoError(t, r.err, r.out)
	require.Equal(t, 0, r.code, r.out)
	servers := map[string]bool{}
	for range 2 {
		h := receive(t, held, "a held request's response")
		requireOK(t, h, "a request held in the app across the drain")
		servers[h.View.Server] = true
	}
	assert.Equal(t, map[string]bool{"app1": true, "app2": true}, servers, "one held request ran on each app")

	l := startLoad(t, sc.URL(), loadOptions{Clients: 4})
	before := app1.served()
	l.progress(100) // round robin would put about 50 of them on app1
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

// upstreamState is the state of upstream name in the JSON of `sidecar
// upstreams list --json` ("" when it is not there).
func upstreamState(listJSON, name string) string {
	var v struct {
		Upstreams []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"upstreams"`
	}
	if json.Unmarshal([]byte(listJSON), &v) != nil {
		return ""
	}
	for _, u := range v.Upstreams {
		if u.Name == name {
			return u.State
		}
	}
	return ""
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
	l.progress(100)
	dialer.progress(50)

	next := startSidecarProc(t, spec)
	require.Equal(t, 0, old.p.wait(), "the old sidecar drains and exits cleanly\n%s", old.p.dump())
	l.progress(100)
	dialer.progress(50)

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
