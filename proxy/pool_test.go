package proxy

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
)

func ups(t testing.TB, weights ...int) []Upstream {
	t.Helper()
	out := make([]Upstream, len(weights))
	for i, w := range weights {
		u, err := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", 10000+i))
		require.NoError(t, err)
		out[i] = Upstream{Name: fmt.Sprintf("u%d", i), URL: u, Weight: w}
	}
	return out
}

func newTestPool(t testing.TB, o PoolOptions) *Pool {
	t.Helper()
	p, err := NewPool(o, nil, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func picks(t *testing.T, p *Pool, n int) []string {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	out := make([]string, n)
	for i := range out {
		b, err := p.pick(r, nil)
		require.NoError(t, err)
		out[i] = b.Name
	}
	return out
}

func TestRoundRobin(t *testing.T) {
	p := newTestPool(t, PoolOptions{Upstreams: ups(t, 1, 1, 1)})
	assert.Equal(t, []string{"u0", "u1", "u2", "u0", "u1", "u2"}, picks(t, p, 6))
}

func TestSmoothWeighted(t *testing.T) {
	p := newTestPool(t, PoolOptions{Upstreams: ups(t, 5, 1, 1)})
	got := picks(t, p, 7)
	assert.Equal(t, []string{"u0", "u0", "u1", "u0", "u2", "u0", "u0"}, got, "nginx's smooth sequence for 5:1:1")
	count := map[string]int{}
	for _, n := range picks(t, p, 700) {
		count[n]++
	}
	assert.Equal(t, map[string]int{"u0": 500, "u1": 100, "u2": 100}, count)
}

func TestLeastConn(t *testing.T) {
	p := newTestPool(t, PoolOptions{Upstreams: ups(t, 1, 2, 1), Policy: LeastConn})
	st := p.state.Load()
	st.backends[0].inflight.Store(3)
	st.backends[1].inflight.Store(4) // 4/2 = 2 per weight: the least loaded
	st.backends[2].inflight.Store(3)
	assert.Equal(t, []string{"u1", "u1", "u1"}, picks(t, p, 3))
	st.backends[1].inflight.Store(6) // 3 per weight: now all tie
	seen := map[string]bool{}
	for _, n := range picks(t, p, 200) {
		seen[n] = true
	}
	assert.Len(t, seen, 3, "ties are broken at random")
}

// TestUnavailableAreSkipped runs without panic mode (PanicThreshold < 0),
// which would otherwise route to the unhealthy and ejected upstreams once
// none is available (see TestPanicMode).
func TestUnavailableAreSkipped(t *testing.T) {
	p := newTestPool(t, PoolOptions{Upstreams: ups(t, 1, 1, 1), PanicThreshold: -1})
	_, err := p.SetDraining("u1", true)
	require.NoError(t, err)
	p.state.Load().byName["u2"].healthy.Store(false)
	assert.Equal(t, []string{"u0", "u0", "u0"}, picks(t, p, 3))

	p.state.Load().byName["u0"].ejectedUntil.Store(time.Now().Add(time.Hour).UnixNano())
	_, err = p.pick(httptest.NewRequest(http.MethodGet, "/", nil), nil)
	assert.ErrorIs(t, err, ErrNoUpstream)

	_, err = p.SetDraining("nope", true)
	assert.ErrorIs(t, err, ErrUnknownUpstream)
}

func TestUpdateKeepsState(t *testing.T) {
	list := ups(t, 1, 1, 1)
	p := newTestPool(t, PoolOptions{Upstreams: list})
	_, err := p.SetDraining("u0", true)
	require.NoError(t, err)
	p.state.Load().byName["u1"].served.Store(42)

	list[1].Weight = 3
	require.NoError(t, p.Update(PoolOptions{Upstreams: append(list[:2:2], ups(t, 1, 1, 1, 1)[3])}))
	states := p.States()
	require.Len(t, states, 3)
	assert.Equal(t, "draining", states[0].State, "state survives a reload")
	assert.Equal(t, uint64(42), states[1].Served)
	assert.Equal(t, 3, states[1].Weight)
	assert.Equal(t, "u3", states[2].Name)

	err = p.Update(PoolOptions{Upstreams: nil})
	assert.Error(t, err, "an invalid update is refused")
	assert.Len(t, p.States(), 3, "and the running set stays")
}

func TestAffinity(t *testing.T) {
	list := ups(t, 1, 1)
	for name, tc := range map[string]struct {
		aff    Affinity
		cookie string
		want   string
	}{
		"jvmRoute is the upstream name": {Affinity{Cookie: "JSESSIONID"}, "JSESSIONID=ABCDEF.u1", "u1"},
		"jvmRoute via routes":           {Affinity{Cookie: "JSESSIONID", Routes: map[string]string{"node2": "u1"}}, "JSESSIONID=ABC.node2", "u1"},
		"value map":                     {Affinity{Cookie: "CFID", Mode: ValueMap, Routes: map[string]string{"1234": "u1"}}, "CFID=1234", "u1"},
		"unknown route uses policy":     {Affinity{Cookie: "JSESSIONID"}, "JSESSIONID=ABC.zzz", "u0"},
		"no suffix uses policy":         {Affinity{Cookie: "JSESSIONID"}, "JSESSIONID=ABC", "u0"},
	} {
		t.Run(name, func(t *testing.T) {
			p := newTestPool(t, PoolOptions{Upstreams: list, Affinity: tc.aff})
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Cookie", tc.cookie)
			b, err := p.pick(r, nil)
			require.NoError(t, err)
			assert.Equal(t, tc.want, b.Name)
		})
	}
	t.Run("pinned upstream draining falls back", func(t *testing.T) {
		p := newTestPool(t, PoolOptions{Upstreams: list, Affinity: Affinity{Cookie: "JSESSIONID"}})
		_, err := p.SetDraining("u1", true)
		require.NoError(t, err)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Cookie", "JSESSIONID=ABC.u1")
		b, err := p.pick(r, nil)
		require.NoError(t, err)
		assert.Equal(t, "u0", b.Name)
	})
	_, err := NewPool(PoolOptions{Upstreams: list, Affinity: Affinity{Cookie: "X", Routes: map[string]string{"a": "ghost"}}}, nil, zerolog.Nop())
	assert.ErrorContains(t, err, "ghost")
}

// countingApp is a real HTTP server that counts the requests it sees and
// answers its health path with a status the test controls.
type countingApp struct {
	*httptest.Server
	mu     sync.Mutex
	hits   int
	health int
}

func newCountingApp(t *testing.T) *countingApp {
	a := &countingApp{health: http.StatusOK}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if r.URL.Path == "/healthz" {
			w.WriteHeader(a.health)
			return
		}
		a.hits++
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *countingApp) setHealth(code int) { a.mu.Lock(); a.health = code; a.mu.Unlock() }

func (a *countingApp) upstream(t *testing.T, name string) Upstream {
	u, err := url.Parse(a.URL)
	require.NoError(t, err)
	return Upstream{Name: name, URL: u}
}

// waitTimeout bounds every wait for a condition in this package's tests:
// it only matters when the condition never comes, so it is generous for a
// busy machine running the race detector.
const waitTimeout = 15 * time.Second

func TestActiveHealthChecks(t *testing.T) {
	good, bad := newCountingApp(t), newCountingApp(t)
	p := newTestPool(t, PoolOptions{
		Upstreams: []Upstream{good.upstream(t, "good"), bad.upstream(t, "bad")},
		Health:    HealthCheck{Path: "/healthz", Interval: 10 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 2, UnhealthyThreshold: 2},
	})
	bad.setHealth(http.StatusServiceUnavailable)
	require.Eventually(t, func() bool { return p.States()[1].State == "unhealthy" }, waitTimeout, 5*time.Millisecond,
		"two failed checks mark it unhealthy")
	for _, n := range picks(t, p, 10) {
		assert.Equal(t, "good", n, "an unhealthy upstream gets no request")
	}
	bad.setHealth(http.StatusOK)
	require.Eventually(t, func() bool { return p.States()[1].State == "up" }, waitTimeout, 5*time.Millisecond,
		"two passed checks bring it back")
}

// TestPassiveEjectionAndProbeBack runs the pool on a fake clock that
// never moves, so an ejection cannot run out while the test looks at it,
// however slowly the machine runs: b stays out until its probe (a TCP
// connect, no health path) succeeds, which happens only once the test
// listens on b's address.
func TestPassiveEjectionAndProbeBack(t *testing.T) {
	app := newCountingApp(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // probes of b are refused until it listens again
	p := newTestPool(t, PoolOptions{
		Upstreams: []Upstream{app.upstream(t, "a"), {Name: "b", URL: &url.URL{Scheme: "http", Host: addr}}},
		Passive:   Passive{MaxFails: 2, Cooldown: 20 * time.Millisecond},
	})
	p.now = clocktest.New().Now // before any goroutine reads it: the probe loop starts at the ejection
	b := p.state.Load().byName["b"]
	p.passiveFail(b)
	assert.Equal(t, "up", p.States()[1].State, "one failure is not enough")
	p.passiveFail(b)
	assert.Equal(t, "ejected", p.States()[1].State)
	assert.Equal(t, []string{"a", "a"}, picks(t, p, 2))

	ln, err = net.Listen("tcp", addr)
	require.NoError(t, err, "listening on b's address again")
	t.Cleanup(func() { _ = ln.Close() })
	require.Eventually(t, func() bool { return p.States()[1].State == "up" }, waitTimeout, 5*time.Millisecond,
		"the probe (a TCP connect, no health path) brings it back")
}

func TestTargetURL(t *testing.T) {
	for _, tc := range []struct{ base, in, want string }{
		{"http://h:1", "/a/b?x=1", "http://h:1/a/b?x=1"},
		{"http://h:1/app", "/a?x=1", "http://h:1/app/a?x=1"},
		{"http://h:1/app/", "/a", "http://h:1/app/a"},
		{"http://h:1/?k=v", "/a?x=1", "http://h:1/a?k=v&x=1"},
		{"http://h:1/app", "/a%2Fb", "http://h:1/app/a%2Fb"},
	} {
		b, _ := url.Parse(tc.base)
		in, _ := url.Parse(tc.in)
		assert.Equal(t, tc.want, targetURL(b, in).String(), tc.base+" + "+tc.in)
	}
}

func BenchmarkSelect(b *testing.B) {
	for _, n := range []int{3, 50} {
		for _, policy := range []Policy{RoundRobin, LeastConn} {
			for _, weighted := range []bool{false, true} {
				ws := make([]int, n)
				for i := range ws {
					ws[i] = 1
					if weighted {
						ws[i] = 1 + i%3
					}
				}
				name := fmt.Sprintf("%s/n=%d/weighted=%v", policy, n, weighted)
				b.Run(strings.ReplaceAll(name, "_", "-"), func(b *testing.B) {
					p := newTestPool(b, PoolOptions{Upstreams: ups(b, ws...), Policy: policy})
					r := httptest.NewRequest(http.MethodGet, "/", nil)
					b.ReportAllocs()
					for b.Loop() {
						if _, err := p.pick(r, nil); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
