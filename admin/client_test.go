package admin_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/admin"
	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// newClient returns a Client of e's API with token tok.
func (e *env) newClient(t *testing.T, tok string) *admin.Client {
	t.Helper()
	c, err := admin.NewClient(e.srv.URL, []byte(tok), nil)
	require.NoError(t, err)
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// noToken fails t if err's message carries the token.
func noToken(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		assert.NotContains(t, err.Error(), token, "the token is never in an error")
	}
}

func TestNewClientAddress(t *testing.T) {
	e := newEnv(t)
	_, port, err := net.SplitHostPort(e.srv.Listener.Addr().String())
	require.NoError(t, err)
	for _, addr := range []string{
		e.srv.URL,
		e.srv.URL + "/",
		"127.0.0.1:" + port,
		":" + port,
		"0.0.0.0:" + port,
	} {
		t.Run(addr, func(t *testing.T) {
			c, err := admin.NewClient(addr, []byte(token), nil)
			require.NoError(t, err)
			defer c.CloseIdleConnections()
			states, err := c.List(context.Background())
			require.NoError(t, err)
			assert.Len(t, states, 2)
		})
	}
	for addr, want := range map[string]string{
		"ftp://x":                 `admin address "ftp://x": want http://host:port or https://host:port`,
		"http://":                 `admin address "http://"`,
		"http://user@127.0.0.1:1": `admin address "http://user@127.0.0.1:1"`,
		"127.0.0.1":               `admin address "127.0.0.1": want host:port or a URL`,
		"":                        `admin address ""`,
	} {
		t.Run(addr, func(t *testing.T) {
			_, err := admin.NewClient(addr, []byte(token), nil)
			assert.ErrorContains(t, err, want)
		})
	}
	_, err = admin.NewClient(e.srv.URL, nil, nil)
	assert.ErrorContains(t, err, "token is required")
}

func TestClient(t *testing.T) {
	e := newEnv(t)
	c := e.newClient(t, token)
	ctx := context.Background()

	states, err := c.List(ctx)
	require.NoError(t, err)
	assert.Equal(t, e.pool.States(), states)

	for _, tc := range []struct {
		on    bool
		state string
	}{
		{true, "draining"},
		{true, "draining"}, // idempotent
		{false, "up"},
		{false, "up"},
	} {
		st, err := c.SetDraining(ctx, "app2", tc.on)
		require.NoError(t, err)
		assert.Equal(t, "app2", st.Name)
		assert.Equal(t, tc.state, st.State)
		assert.Equal(t, tc.on, e.pool.States()[1].Draining)
		assert.False(t, e.pool.States()[0].Draining, "app1 is untouched")

		got, err := c.State(ctx, "app2")
		require.NoError(t, err)
		assert.Equal(t, e.pool.States()[1], got)
	}
}

func TestClientProbe(t *testing.T) {
	e := newEnv(t)
	e.withDown(t, proxy.HealthCheck{})
	c := e.newClient(t, token)
	ctx := context.Background()

	r, err := c.Probe(ctx, "app2")
	require.NoError(t, err)
	assert.Equal(t, proxy.ProbeResult{Name: "app2", Check: "tcp connect", OK: true, State: e.pool.States()[1]}, r)

	r, err = c.Probe(ctx, "down")
	require.NoError(t, err, "a failed probe is a result, not an error")
	assert.Equal(t, "down", r.Name)
	assert.False(t, r.OK)
	assert.Contains(t, r.Error, "connection refused")
	assert.Equal(t, "up", r.State.State, "without active checks a dead upstream is up: why the probe exists")
}

func TestClientErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	up := func(s proxy.State) bool { return s.State == "up" }
	for name, tc := range map[string]struct {
		call func(c *admin.Client) error
		tok  string
		want string
		is   error
	}{
		"wrong token": {func(c *admin.Client) error { _, err := c.List(ctx); return err },
			"not-the-admin-token", "rejected the token (401 Unauthorized)", admin.ErrUnauthorized},
		"unknown upstream drain": {func(c *admin.Client) error { _, err := c.SetDraining(ctx, "nope", true); return err },
			token, `POST /upstreams/nope/drain: 404 Not Found: unknown upstream: "nope"`, proxy.ErrUnknownUpstream},
		"unknown upstream undrain": {func(c *admin.Client) error { _, err := c.SetDraining(ctx, "nope", false); return err },
			token, `POST /upstreams/nope/undrain: 404 Not Found: unknown upstream: "nope"`, proxy.ErrUnknownUpstream},
		"unknown upstream probe": {func(c *admin.Client) error { _, err := c.Probe(ctx, "nope"); return err },
			token, `POST /upstreams/nope/probe: 404 Not Found: unknown upstream: "nope"`, proxy.ErrUnknownUpstream},
		"wrong token probe": {func(c *admin.Client) error { _, err := c.Probe(ctx, "app1"); return err },
			"not-the-admin-token", "rejected the token (401 Unauthorized)", admin.ErrUnauthorized},
		"unknown upstream state": {func(c *admin.Client) error { _, err := c.State(ctx, "nope"); return err },
			token, `unknown upstream "nope"`, proxy.ErrUnknownUpstream},
		"unknown upstream wait": {func(c *admin.Client) error { _, err := c.Wait(ctx, "nope", up, time.Millisecond); return err },
			token, `unknown upstream "nope"`, proxy.ErrUnknownUpstream},
	} {
		t.Run(name, func(t *testing.T) {
			err := tc.call(e.newClient(t, tc.tok))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.ErrorIs(t, err, tc.is)
			noToken(t, err)
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		c, err := admin.NewClient("127.0.0.1:1", []byte(token), nil)
		require.NoError(t, err)
		_, err = c.List(ctx)
		assert.ErrorContains(t, err, "calling the admin API")
		noToken(t, err)
	})
	assert.False(t, e.pool.States()[0].Draining)
}

// proxyEnv is env with a real Proxy in front of the pool, to put requests
// in flight: a request to /slow holds its upstream until release closes.
type proxyEnv struct {
	*env
	proxy   *httptest.Server
	arrived chan struct{} // a request to /slow reached an upstream
	release chan struct{} // closed to let /slow requests finish
}

func newProxyEnv(t *testing.T) *proxyEnv {
	t.Helper()
	e := &proxyEnv{arrived: make(chan struct{}, 8), release: make(chan struct{})}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			e.arrived <- struct{}{}
			<-e.release
		}
		_, _ = io.WriteString(w, "app1")
	}))
	t.Cleanup(app.Close)
	u, err := url.Parse(app.URL)
	require.NoError(t, err)
	pool, err := proxy.NewPool(proxy.PoolOptions{Upstreams: []proxy.Upstream{{Name: "app1", URL: u}}}, nil, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	h, err := admin.New(admin.Options{Token: []byte(token), Pool: pool})
	require.NoError(t, err)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e.env = &env{pool: pool, srv: srv, h: h, logs: &logtest.Buffer{}}

	mem := memory.New(memory.Options{})
	t.Cleanup(func() { _ = mem.Close() })
	signer, err := sessions.NewSigner([][]byte{[]byte("admin-test-cookie-secret-0123456789abcd")})
	require.NoError(t, err)
	m, err := sessions.NewManager(sessions.Options{Store: mem, Signer: signer, MaxBytes: 1024})
	require.NoError(t, err)
	hdr, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte("admin-test-header-secret-0123456789abcd")})
	require.NoError(t, err)
	p, err := proxy.New(proxy.Options{Pool: pool, Manager: m, Header: hdr})
	require.NoError(t, err)
	e.proxy = httptest.NewServer(p)
	t.Cleanup(e.proxy.Close)
	return e
}

// TestWaitForInFlight holds a request in flight on app1 through a real
// Proxy: a wait for it to finish gives up when its context ends, with the
// last state seen, and a wait returns once the request is done.
func TestWaitForInFlight(t *testing.T) {
	e := newProxyEnv(t)
	released := false
	defer func() {
		if !released {
			close(e.release)
		}
	}()
	respDone := make(chan error, 1)
	go func() {
		resp, err := http.Get(e.proxy.URL + "/slow")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		respDone <- err
	}()
	<-e.arrived
	require.Equal(t, int64(1), e.pool.States()[0].InFlight)

	c := e.newClient(t, token)
	idle := func(s proxy.State) bool { return s.InFlight == 0 }
	st, err := c.SetDraining(context.Background(), "app1", true)
	require.NoError(t, err)
	assert.Equal(t, "draining", st.State)
	assert.Equal(t, int64(1), st.InFlight)

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	st, err = c.Wait(ctx, "app1", idle, 10*time.Millisecond)
	require.ErrorIs(t, err, admin.ErrNotReached)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "app1 is draining with 1 request(s) in flight")
	assert.Equal(t, "app1", st.Name, "the last state seen")
	assert.Equal(t, int64(1), st.InFlight)
	assert.Equal(t, "draining", st.State)
	assert.True(t, e.pool.States()[0].Draining, "a timed-out wait leaves the upstream draining")

	type result struct {
		st  proxy.State
		err error
	}
	waited := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := c.Wait(ctx, "app1", idle, 10*time.Millisecond)
		waited <- result{st, err}
	}()
	close(e.release)
	released = true
	require.NoError(t, <-respDone)
	r := <-waited
	require.NoError(t, r.err)
	assert.Equal(t, "app1", r.st.Name)
	assert.Equal(t, int64(0), r.st.InFlight)
	assert.Equal(t, int64(0), e.pool.States()[0].InFlight)
}

// TestWaitPolls runs Wait against a fake API whose in_flight falls from
// 2 to 0 over three polls, the first at once.
func TestWaitPolls(t *testing.T) {
	var polls atomic.Int32
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+token || r.URL.Path != "/upstreams" {
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		inFlight := max(0, 3-polls.Add(1)) // 2, 1, 0
		fmt.Fprintf(w, `{"upstreams":[{"name":"app1","state":"draining","draining":true,"in_flight":%d}]}`, inFlight)
	}))
	defer fake.Close()
	c, err := admin.NewClient(fake.URL, []byte(token), nil)
	require.NoError(t, err)
	defer c.CloseIdleConnections()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := c.Wait(ctx, "app1", func(s proxy.State) bool { return s.InFlight == 0 }, 5*time.Millisecond)
	require.NoError(t, err)
	assert.Equal(t, proxy.State{Name: "app1", State: "draining", Draining: true}, st)
	assert.Equal(t, int32(3), polls.Load(), "polls until in_flight 0")
}

// A Wait whose first poll fails returns that error, not ErrNotReached,
// even when its context has ended.
func TestWaitFirstPollFails(t *testing.T) {
	e := newEnv(t)
	c := e.newClient(t, "not-the-admin-token")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st, err := c.Wait(ctx, "app1", func(proxy.State) bool { return true }, time.Millisecond)
	assert.Error(t, err)
	assert.NotErrorIs(t, err, admin.ErrNotReached)
	assert.Equal(t, proxy.State{}, st)

	st, err = c.Wait(context.Background(), "app1", func(proxy.State) bool { return true }, time.Millisecond)
	assert.ErrorIs(t, err, admin.ErrUnauthorized)
	assert.Equal(t, proxy.State{}, st)
}
