package integration

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// TestHotReloadUnderLoad changes the upstream set of a running sidecar
// binary with SIGHUP while clients keep using their sessions: an added
// upstream gets traffic, a removed one stops getting it, and a broken
// config file is refused while the running set keeps serving. No request
// fails at any point.
func TestHotReloadUnderLoad(t *testing.T) {
	rs := redistest.Start(t)
	app1, app2, app3 := startApp(t, "app1"), startApp(t, "app2"), startApp(t, "app3")
	spec := poolSpec(rs.Addr(), app1, app2)
	sc := startSidecarProc(t, spec)
	spec.Listen = sc.addr // reloads must not ask for another port
	c := &cluster{redis: rs, apps: []*appProc{app1, app2, app3}, sidecar: sc}

	l := startLoad(t, sc.URL(), loadOptions{})
	l.progress(100)
	require.Zero(t, app3.served(), "app3 is not configured yet")

	// Add app3.
	spec.Upstreams = poolSpec("", app1, app2, app3).Upstreams
	require.True(t, sc.reload(spec.yaml(t)), "adding app3 is applied")
	app3.waitServing(20)

	// Remove app1: once its requests in flight are done it gets no more.
	spec.Upstreams = poolSpec("", app2, app3).Upstreams
	require.True(t, sc.reload(spec.yaml(t)), "removing app1 is applied")
	waitIdle(t, l, app1)

	// Broken configs are refused and the running set keeps serving.
	broken := map[string]string{
		"unknown key": spec.yaml(t) + "bogus_key: 1\n",
		"bad upstream url": func() string {
			bad := spec
			bad.Upstreams = append(append([]upstreamSpec(nil), spec.Upstreams...), upstreamSpec{Name: "app4", URL: "ftp://127.0.0.1:1"})
			return bad.yaml(t)
		}(),
	}
	for name, body := range broken {
		refused := sc.count("config reload refused")
		assert.False(t, sc.reload(body), "%s: the reload is refused", name)
		assert.Equal(t, refused+1, sc.count("config reload refused"), "%s: logged as refused", name)
		before1, before2, before3 := app1.served(), app2.served(), app3.served()
		l.progress(100)
		assert.Equal(t, before1, app1.served(), "%s: app1 stays removed", name)
		assert.Greater(t, app2.served(), before2, "%s: app2 still gets traffic", name)
		assert.Greater(t, app3.served(), before3, "%s: app3 still gets traffic", name)
	}

	stats := l.Stop()
	final := l.verifySessions()
	c.report(t, stats)
	assert.Empty(t, stats.Failures, "no request may fail across reloads")
	assert.Empty(t, final, "every session keeps its last write")
	sc.stop()
}

// waitIdle waits until a gets no new request while the load goes on
// (it may still finish the ones it has).
func waitIdle(t *testing.T, l *load, a *appProc) {
	t.Helper()
	for range 20 {
		before := a.served()
		l.progress(200)
		if a.served() == before {
			return
		}
	}
	t.Fatalf("%s still gets requests", a.name)
}
