package admin_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/admin"
	"github.com/sidecarproxy/sidecar/httpauth"
	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/lockservice"
	"github.com/sidecarproxy/sidecar/proxy"
)

const token = "test-admin-token-0123456789"

type env struct {
	pool *proxy.Pool
	srv  *httptest.Server
	h    *admin.Handler
	logs *logtest.Buffer
}

// newEnv serves an admin Handler over a real Pool of two httptest
// upstreams, app1 and app2.
func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvLocker(t, nil)
}

// newEnvLocker is newEnv with Options.Locker set to locker.
func newEnvLocker(t *testing.T, locker *lock.Locker) *env {
	t.Helper()
	var ups []proxy.Upstream
	for _, name := range []string{"app1", "app2"} {
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, name)
		}))
		t.Cleanup(app.Close)
		u, err := url.Parse(app.URL)
		require.NoError(t, err)
		ups = append(ups, proxy.Upstream{Name: name, URL: u})
	}
	pool, err := proxy.NewPool(proxy.PoolOptions{Upstreams: ups}, nil, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	e := &env{pool: pool, logs: &logtest.Buffer{}}
	e.h, err = admin.New(admin.Options{Token: []byte(token), Pool: pool, Locker: locker, Logger: zerolog.New(e.logs)})
	require.NoError(t, err)
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)
	return e
}

// do sends method path with the Authorization header auth ("" for none)
// and returns the response with its body read.
func (e *env) do(t *testing.T, method, path, auth string, body io.Reader) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, body)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestNewRequiresOptions(t *testing.T) {
	pool, err := proxy.NewPool(proxy.PoolOptions{Upstreams: []proxy.Upstream{
		{Name: "a", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}},
	}}, nil, zerolog.Nop())
	require.NoError(t, err)
	defer pool.Close()
	_, err = admin.New(admin.Options{Pool: pool})
	assert.ErrorContains(t, err, "Token")
	_, err = admin.New(admin.Options{Token: []byte(token)})
	assert.ErrorContains(t, err, "Pool")
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	for name, tc := range map[string]struct {
		auth   string
		status int
	}{
		"none":              {"", http.StatusUnauthorized},
		"wrong token":       {"Bearer not-the-token", http.StatusUnauthorized},
		"token prefix":      {"Bearer " + token[:len(token)-1], http.StatusUnauthorized},
		"empty token":       {"Bearer ", http.StatusUnauthorized},
		"wrong scheme":      {"Basic " + token, http.StatusUnauthorized},
		"no scheme":         {token, http.StatusUnauthorized},
		"right":             {"Bearer " + token, http.StatusOK},
		"scheme lower case": {"bearer " + token, http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := e.do(t, http.MethodGet, "/upstreams", tc.auth, nil)
			assert.Equal(t, tc.status, resp.StatusCode, body)
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			if tc.status == http.StatusUnauthorized {
				assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"))
				assert.JSONEq(t, `{"error":"unauthorized"}`, body)
			}
		})
	}
	logs := e.logs.String()
	assert.Contains(t, logs, "authentication failed")
	assert.Contains(t, logs, "127.0.0.1")
	assert.NotContains(t, logs, "not-the-token")
	assert.NotContains(t, logs, token[:len(token)-1], "the presented token is never logged")
}

func TestAuthGuardsEveryRoute(t *testing.T) {
	locks := lock.NewLocal(lock.Options{})
	t.Cleanup(func() { _ = locks.Close() })
	e := newEnvLocker(t, locks)
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, "/upstreams/app1/drain"},
		{http.MethodPost, "/upstreams/app1/undrain"},
		{http.MethodPost, "/upstreams/app1/probe"},
		{http.MethodGet, "/locks/stats"},
		{http.MethodGet, "/nowhere"},
		{http.MethodDelete, "/upstreams"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, _ := e.do(t, tc.method, tc.path, "", nil)
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		})
	}
	assert.False(t, e.pool.States()[0].Draining, "an unauthenticated drain changed nothing")

	resp, body := e.do(t, http.MethodGet, "/locks/stats", "Bearer "+token, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"acquired":0,"contended":0,"waited":0,"waiting":0,"wait_time_ms":0,"notified":0,`+
		`"not_obtained":0,"extended":0,"released":0,"lost":0,"errors":0}`, body)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
}

// GET /locks/stats serves Options.Locker' counters in the lock service's
// shape, and exists only when Options.Locker is set.
func TestLockStats(t *testing.T) {
	locks := lock.NewLocal(lock.Options{})
	t.Cleanup(func() { _ = locks.Close() })
	ctx := context.Background()
	held, err := locks.Acquire(ctx, "k", time.Minute, 0)
	require.NoError(t, err)
	_, err = locks.Acquire(ctx, "k", time.Minute, 0)
	require.ErrorIs(t, err, lock.ErrNotObtained)
	require.NoError(t, held.Release(ctx))

	e := newEnvLocker(t, locks)
	resp, body := e.do(t, http.MethodGet, "/locks/stats", "Bearer "+token, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var s lockservice.Stats
	require.NoError(t, json.Unmarshal([]byte(body), &s))
	assert.Equal(t, lockservice.Stats{Acquired: 1, Contended: 1, NotObtained: 1, Released: 1}, s)
	assert.Equal(t, lockservice.StatsOf(locks), s)

	resp, body = e.do(t, http.MethodPost, "/locks/stats", "Bearer "+token, nil)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, body)
	assert.Equal(t, "GET, HEAD", resp.Header.Get("Allow"))

	resp, body = newEnv(t).do(t, http.MethodGet, "/locks/stats", "Bearer "+token, nil)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "no Options.Locker, no route")
	assert.JSONEq(t, `{"error":"not found"}`, body)
}

func TestListUpstreams(t *testing.T) {
	e := newEnv(t)
	resp, body := e.do(t, http.MethodGet, "/upstreams", "Bearer "+token, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var list admin.UpstreamList
	require.NoError(t, json.Unmarshal([]byte(body), &list))
	assert.Equal(t, e.pool.States(), list.Upstreams)
	require.Len(t, list.Upstreams, 2)
	assert.Equal(t, "app1", list.Upstreams[0].Name)
	assert.Equal(t, "up", list.Upstreams[0].State)
	assert.Contains(t, body, `"in_flight":0`)
}

func TestDrainUndrain(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		path     string
		draining bool
		state    string
	}{
		{"/upstreams/app2/drain", true, "draining"},
		{"/upstreams/app2/drain", true, "draining"}, // idempotent
		{"/upstreams/app2/undrain", false, "up"},
		{"/upstreams/app2/undrain", false, "up"},
	} {
		resp, body := e.do(t, http.MethodPost, tc.path, "Bearer "+token, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, body)
		var st proxy.State
		require.NoError(t, json.Unmarshal([]byte(body), &st))
		assert.Equal(t, "app2", st.Name)
		assert.Equal(t, tc.state, st.State, tc.path)
		assert.Equal(t, tc.draining, e.pool.States()[1].Draining, tc.path)
		assert.False(t, e.pool.States()[0].Draining, "app1 is untouched")
	}
	assert.Contains(t, e.logs.String(), "drain state set")
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	for name, tc := range map[string]struct {
		method, path string
		body         io.Reader
		status       int
		errMsg       string
		allow        string
	}{
		"unknown upstream drain":   {http.MethodPost, "/upstreams/nope/drain", nil, http.StatusNotFound, `unknown upstream: "nope"`, ""},
		"unknown upstream undrain": {http.MethodPost, "/upstreams/nope/undrain", nil, http.StatusNotFound, `unknown upstream: "nope"`, ""},
		"unknown upstream probe":   {http.MethodPost, "/upstreams/nope/probe", nil, http.StatusNotFound, `unknown upstream: "nope"`, ""},
		"probe by GET":             {http.MethodGet, "/upstreams/app1/probe", nil, http.StatusMethodNotAllowed, "method not allowed", "POST"},
		"unknown path":             {http.MethodGet, "/nowhere", nil, http.StatusNotFound, "not found", ""},
		"list by POST":             {http.MethodPost, "/upstreams", nil, http.StatusMethodNotAllowed, "method not allowed", "GET, HEAD"},
		"drain by GET":             {http.MethodGet, "/upstreams/app1/drain", nil, http.StatusMethodNotAllowed, "method not allowed", "POST"},
		"body too large": {http.MethodPost, "/upstreams/app1/drain",
			strings.NewReader(strings.Repeat("x", admin.MaxBodyBytes+1)), http.StatusRequestEntityTooLarge, "request body too large", ""},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := e.do(t, tc.method, tc.path, "Bearer "+token, tc.body)
			assert.Equal(t, tc.status, resp.StatusCode, body)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			var er admin.ErrorResponse
			require.NoError(t, json.Unmarshal([]byte(body), &er), body)
			assert.Equal(t, tc.errMsg, er.Error)
			assert.Equal(t, tc.allow, resp.Header.Get("Allow"))
		})
	}
	assert.False(t, e.pool.States()[0].Draining, "a rejected body drained nothing")
}

// closedURL returns the URL of a port on the loopback address that nothing
// listens on (it was listened on and closed).
func closedURL(t *testing.T) *url.URL {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	u := &url.URL{Scheme: "http", Host: l.Addr().String()}
	require.NoError(t, l.Close())
	return u
}

// withDown adds to e's pool an upstream "down" on a closed port, keeping
// app1 and app2, with health h.
func (e *env) withDown(t *testing.T, h proxy.HealthCheck) {
	t.Helper()
	var ups []proxy.Upstream
	for _, s := range e.pool.States() {
		u, err := url.Parse(s.URL)
		require.NoError(t, err)
		ups = append(ups, proxy.Upstream{Name: s.Name, URL: u})
	}
	ups = append(ups, proxy.Upstream{Name: "down", URL: closedURL(t)})
	require.NoError(t, e.pool.Update(proxy.PoolOptions{Upstreams: ups, Health: h}))
}

// POST /upstreams/{name}/probe probes now, with or without active health
// checks, and answers 200 with the result whether it passed or not.
func TestProbe(t *testing.T) {
	for name, tc := range map[string]struct {
		health proxy.HealthCheck
		check  string
	}{
		"no health check": {proxy.HealthCheck{}, "tcp connect"},
		// An hour between active checks: the probe alone decides.
		"health check path": {proxy.HealthCheck{Path: "/healthz", Interval: time.Hour}, "GET /healthz"},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.withDown(t, tc.health)

			resp, body := e.do(t, http.MethodPost, "/upstreams/app1/probe", "Bearer "+token, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			var r proxy.ProbeResult
			require.NoError(t, json.Unmarshal([]byte(body), &r), body)
			assert.Equal(t, "app1", r.Name)
			assert.Equal(t, tc.check, r.Check)
			assert.True(t, r.OK, body)
			assert.Empty(t, r.Error)
			assert.Equal(t, "app1", r.State.Name)

			resp, body = e.do(t, http.MethodPost, "/upstreams/down/probe", "Bearer "+token, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode, body)
			r = proxy.ProbeResult{}
			require.NoError(t, json.Unmarshal([]byte(body), &r), body)
			assert.Equal(t, "down", r.Name)
			assert.Equal(t, tc.check, r.Check)
			assert.False(t, r.OK, body)
			assert.Contains(t, r.Error, "connection refused")
		})
	}
}

func TestHealthzNeedsNoAuth(t *testing.T) {
	e := newEnv(t)
	resp, body := e.do(t, http.MethodGet, "/healthz", "", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok", body)
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))

	resp, _ = e.do(t, http.MethodPost, "/healthz", "", nil)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.NotContains(t, e.logs.String(), "authentication failed")
}

// TestAuthLockout: after AuthLimits.MaxFailures wrong tokens the address
// gets 429 with Retry-After, the right token included; /healthz stays
// open.
func TestAuthLockout(t *testing.T) {
	e := newEnv(t)
	clock := clocktest.New()
	h, err := admin.New(admin.Options{Token: []byte(token), Pool: e.pool, Logger: zerolog.New(e.logs),
		AuthLimits: httpauth.Limits{MaxFailures: 2, Lockout: 30 * time.Second, Clock: clock.Now}})
	require.NoError(t, err)
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)

	for range 2 {
		resp, _ := e.do(t, http.MethodGet, "/upstreams", "Bearer wrong", nil)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	resp, body := e.do(t, http.MethodGet, "/upstreams", "Bearer "+token, nil)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "30", resp.Header.Get("Retry-After"))
	assert.JSONEq(t, `{"error":"too many requests"}`, body)
	resp, _ = e.do(t, http.MethodGet, "/healthz", "", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Contains(t, e.logs.String(), "admin API: too many failed authentications; address locked out")

	clock.Advance(30 * time.Second)
	resp, _ = e.do(t, http.MethodGet, "/upstreams", "Bearer "+token, nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
