package proxy

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/internal/logtest"
)

// loggedPool is a pool on a fake clock that never moves unless the test
// advances it, whose probe-back loops wait until the pool closes unless
// the test replaces p.after.
func loggedPool(t *testing.T, o PoolOptions) (*Pool, *logtest.Buffer, *clocktest.Clock) {
	t.Helper()
	logs := &logtest.Buffer{}
	p, err := NewPool(o, nil, zerolog.New(logs))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	clock := clocktest.New()
	p.now = clock.Now // before any goroutine reads it: probe loops start at an ejection
	p.after = func(time.Duration) (<-chan time.Time, func() bool) { return nil, func() bool { return true } }
	return p, logs, clock
}

func TestEjectionCap(t *testing.T) {
	for name, tc := range map[string]struct {
		maxPct  int
		fail    []string // each fails MaxFails (1) times, in order
		ejected []string
		refused int // cap refusals logged
	}{
		"default 50% of 3 ejects one": {0, []string{"u0", "u1", "u1", "u1"}, []string{"u0"}, 1},
		"100% never ejects the last":  {100, []string{"u0", "u1", "u2", "u2"}, []string{"u0", "u1"}, 1},
		"negative ejects none":        {-1, []string{"u0", "u1"}, nil, 2},
	} {
		t.Run(name, func(t *testing.T) {
			p, logs, _ := loggedPool(t, PoolOptions{Upstreams: ups(t, 1, 1, 1), Passive: Passive{MaxFails: 1, MaxEjectionPercent: tc.maxPct}})
			st := p.state.Load()
			for _, n := range tc.fail {
				p.passiveFail(st.byName[n])
			}
			var ejected []string
			for _, s := range p.States() {
				if s.Ejected {
					ejected = append(ejected, s.Name)
				}
			}
			assert.Equal(t, tc.ejected, ejected)
			assert.Equal(t, len(tc.ejected), logs.Count("upstream ejected after failures"), "each ejection is logged once")
			assert.Equal(t, tc.refused, logs.Count("upstream not ejected despite failures"),
				"a refusal is logged once per failure streak, not per failure")
			assert.Equal(t, uint64(len(tc.fail)), st.backends[0].failures.Load()+st.backends[1].failures.Load()+st.backends[2].failures.Load(),
				"refused failures are still counted")
		})
	}
	t.Run("draining upstreams are not counted", func(t *testing.T) {
		p, _, _ := loggedPool(t, PoolOptions{Upstreams: ups(t, 1, 1, 1, 1), Passive: Passive{MaxFails: 1}})
		_, err := p.SetDraining("u3", true)
		require.NoError(t, err)
		st := p.state.Load()
		p.passiveFail(st.byName["u0"])
		p.passiveFail(st.byName["u1"]) // 2 of 3 non-draining would be over 50%
		assert.Equal(t, []string{"ejected", "up", "up", "draining"},
			[]string{p.States()[0].State, p.States()[1].State, p.States()[2].State, p.States()[3].State})
	})
}

// pickedSet returns the distinct upstreams n picks chose.
func pickedSet(t *testing.T, p *Pool, n int) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for _, name := range picks(t, p, n) {
		if !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	return out
}

func TestPanicMode(t *testing.T) {
	p, logs, _ := loggedPool(t, PoolOptions{Upstreams: ups(t, 1, 1, 1, 1)})
	_, err := p.SetDraining("u3", true)
	require.NoError(t, err)
	st := p.state.Load()
	st.byName["u1"].healthy.Store(false)
	assert.ElementsMatch(t, []string{"u0", "u2"}, pickedSet(t, p, 12), "2 of 3 available: no panic")
	assert.Zero(t, logs.Count("panic mode"))

	st.byName["u2"].healthy.Store(false) // 1 of 3 available, under 50%
	assert.ElementsMatch(t, []string{"u0", "u1", "u2"}, pickedSet(t, p, 30), "panic: every non-draining upstream, never the draining one")
	assert.Equal(t, 1, logs.Count("panic mode:"), "entering is logged once, not per request")

	st.byName["u0"].ejectedUntil.Store(p.now().Add(time.Hour).UnixNano()) // none available
	assert.ElementsMatch(t, []string{"u0", "u1", "u2"}, pickedSet(t, p, 30), "still routed, never 503")

	st.byName["u0"].ejectedUntil.Store(0)
	st.byName["u1"].healthy.Store(true)
	st.byName["u2"].healthy.Store(true)
	assert.ElementsMatch(t, []string{"u0", "u1", "u2"}, pickedSet(t, p, 30))
	assert.Equal(t, 1, logs.Count("panic mode over"), "leaving is logged once")
	assert.Equal(t, 1, logs.Count("panic mode:"))

	t.Run("off when negative", func(t *testing.T) {
		p, logs, _ := loggedPool(t, PoolOptions{Upstreams: ups(t, 1, 1), PanicThreshold: -1})
		p.state.Load().byName["u0"].healthy.Store(false)
		p.state.Load().byName["u1"].healthy.Store(false)
		_, err := p.pick(httptest.NewRequest(http.MethodGet, "/", nil), nil)
		assert.ErrorIs(t, err, ErrNoUpstream)
		assert.Zero(t, logs.Count("panic mode"))
	})
	t.Run("all draining is still 503", func(t *testing.T) {
		p, _, _ := loggedPool(t, PoolOptions{Upstreams: ups(t, 1)})
		_, err := p.SetDraining("u0", true)
		require.NoError(t, err)
		_, err = p.pick(httptest.NewRequest(http.MethodGet, "/", nil), nil)
		assert.ErrorIs(t, err, ErrNoUpstream)
	})
}

// TestProbeBackoff drives b's probe loop one wait at a time: each wait it
// asks for is received on waits, the fake clock is moved by it, and the
// loop probes (a TCP connect to b's address, refused until the test
// listens there).
func TestProbeBackoff(t *testing.T) {
	app := newCountingApp(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	p, logs, clock := loggedPool(t, PoolOptions{
		Upstreams: []Upstream{app.upstream(t, "a"), {Name: "b", URL: &url.URL{Scheme: "http", Host: addr}}},
		Passive:   Passive{MaxFails: 1, BaseEjection: time.Second, Cooldown: 5 * time.Second},
	})
	waits := make(chan time.Duration)
	fire := make(chan time.Time)
	p.after = func(d time.Duration) (<-chan time.Time, func() bool) {
		select {
		case waits <- d:
		case <-p.ctx.Done():
		}
		return fire, func() bool { return true }
	}
	next := func() time.Duration {
		t.Helper()
		select {
		case d := <-waits:
			return d
		case <-time.After(waitTimeout):
			require.FailNow(t, "the probe loop asked for no wait")
			return 0
		}
	}
	step := func(d time.Duration) {
		clock.Advance(d)
		fire <- clock.Now()
	}
	b := p.state.Load().byName["b"]
	p.passiveFail(b)
	var got []time.Duration
	for range 5 {
		d := next()
		got = append(got, d)
		assert.Equal(t, "ejected", p.States()[1].State, "out during its ejection")
		step(d) // the probe fails: ejected again, for twice as long
	}
	assert.Equal(t, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}, got,
		"base, doubled each time, capped at Cooldown")
	d := next() // asked once the fifth failure is logged
	assert.Equal(t, 5*time.Second, d)
	assert.Equal(t, 5, logs.Count("failed its probe"), "each failed probe is logged once")

	ln, err = net.Listen("tcp", addr)
	require.NoError(t, err, "listening on b's address again")
	t.Cleanup(func() { _ = ln.Close() })
	step(d)
	require.Eventually(t, func() bool { return !b.probing.Load() }, waitTimeout, time.Millisecond, "a passing probe readmits")
	assert.Zero(t, b.ejectedUntil.Load())
	assert.Equal(t, "up", p.States()[1].State)
	assert.Equal(t, 1, logs.Count("readmitted by its probe"))

	// Readmitted but no success yet: the next ejection is as long as the last.
	p.passiveFail(b)
	assert.Equal(t, 5*time.Second, next())
	step(5 * time.Second)
	require.Eventually(t, func() bool { return !b.probing.Load() }, waitTimeout, time.Millisecond)

	// A success resets the backoff.
	p.passiveOK(b)
	p.passiveFail(b)
	assert.Equal(t, time.Second, next(), "a response between ejections starts over at BaseEjection")
}

func TestActiveCheckReadmits(t *testing.T) {
	a, b := newCountingApp(t), newCountingApp(t)
	p, logs, _ := loggedPool(t, PoolOptions{
		Upstreams: []Upstream{a.upstream(t, "a"), b.upstream(t, "b")},
		Health:    HealthCheck{Path: "/healthz", Interval: 10 * time.Millisecond, Timeout: waitTimeout},
		Passive:   Passive{MaxFails: 1, Cooldown: time.Hour},
	})
	bb := p.state.Load().byName["b"]
	p.passiveFail(bb)
	require.Equal(t, 1, logs.Count("upstream ejected after failures"))
	require.Eventually(t, func() bool { return p.States()[1].State == "up" }, waitTimeout, time.Millisecond,
		"one passing check brings it back, long before its cooldown (on a clock that never moves)")
	assert.Equal(t, 1, logs.Count("readmitted by its active health check"))
	assert.Zero(t, logs.Count("readmitted by its probe"), "its probe never ran")
}

// TestEjectedUntilProbePasses pins what a helper found running the deploy
// script on a busy machine: once an ejection's time ran out the upstream
// took requests again before its probe had run, so the first refused
// connection ejected it again and doubled the wait. It now stays out
// until its probe (or an active check) passes, however late that runs.
func TestEjectedUntilProbePasses(t *testing.T) {
	a, b := newCountingApp(t), newCountingApp(t)
	p, _, clock := loggedPool(t, PoolOptions{
		Upstreams: []Upstream{a.upstream(t, "a"), b.upstream(t, "b")},
		Passive:   Passive{MaxFails: 1, BaseEjection: time.Second},
	})
	waiting := make(chan time.Duration, 1)
	p.after = func(d time.Duration) (<-chan time.Time, func() bool) { // the probe waits until the pool closes
		waiting <- d
		return nil, func() bool { return true }
	}
	bb := p.state.Load().byName["b"]
	p.passiveFail(bb)
	require.Equal(t, "ejected", p.States()[1].State)
	select { // the probe loop waits for its time, on a clock the test moves
	case <-waiting:
	case <-time.After(waitTimeout):
		require.FailNow(t, "the probe loop never waited")
	}
	clock.Advance(time.Hour) // long past the ejection; its probe has not run
	assert.Equal(t, "ejected", p.States()[1].State, "out until a probe passes")
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	for range 10 {
		got, err := p.pick(req, nil)
		require.NoError(t, err)
		assert.Equal(t, "a", got.Name, "no request goes to b before its probe passes")
	}
	p.readmit(bb, "probe")
	assert.Equal(t, "up", p.States()[1].State)
}
