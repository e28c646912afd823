package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/admin"
	"github.com/sidecarproxy/sidecar/internal/admintest"
	"github.com/sidecarproxy/sidecar/proxy"
)

// The admin client's own behaviour (requests, errors, waiting) is tested
// in package admin; these tests cover the CLI: flags, what it prints and
// its exit status. The --config lookup through config.Load is tested in
// cmd/sidecar.

// testEnv is the Env of a test: its resolver finds no config file.
func testEnv(stdout, stderr io.Writer, environ []string) Env {
	resolve := func(string) (string, []byte, error) { return "", nil, errors.New("no config in this test") }
	return Env{Resolve: resolve, Environ: environ, Stdout: stdout, Stderr: stderr}
}

// runCLI runs command (Upstreams or Sessions) with args in testEnv, and
// checks that the token appears in neither output.
func runCLI(t *testing.T, command func([]string, Env) int, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = command(args, testEnv(&out, &errOut, environ))
	assert.NotContains(t, out.String()+errOut.String(), admintest.Token, "the token is never printed")
	return code, out.String(), errOut.String()
}

func TestUpstreamsUsageErrors(t *testing.T) {
	flags := []string{"--admin", "http://127.0.0.1:1", "--token-file", admintest.WriteFile(t, "token", admintest.Token)}
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no action":           {nil, "missing action"},
		"unknown action":      {append([]string{"restart", "app1"}, flags...), `unknown action "restart"`},
		"list with a name":    {append([]string{"list", "app1"}, flags...), "list takes no NAME"},
		"drain without name":  {append([]string{"drain"}, flags...), "drain takes exactly one NAME"},
		"wait with two names": {append([]string{"wait", "a", "b"}, flags...), "wait takes exactly one NAME (got 2)"},
		"json on drain":       {append([]string{"drain", "app1", "--json"}, flags...), "--json applies to list only"},
		"wait-healthy on drain": {append([]string{"drain", "app1", "--wait-healthy"}, flags...),
			"--wait-healthy applies to undrain only"},
		"unknown flag":        {append([]string{"list", "--bogus"}, flags...), "flag provided but not defined: -bogus"},
		"bad timeout":         {append([]string{"list", "--timeout", "0s"}, flags...), "must be positive"},
		"no config, no admin": {[]string{"list"}, "--config FILE or --admin URL is required"},
		"no token": {[]string{"list", "--admin", "127.0.0.1:1"},
			"no admin token: pass --token-file"},
		"missing token file": {[]string{"list", "--admin", "127.0.0.1:1", "--token-file", "/nonexistent/token"},
			"reading --token-file"},
		"bad admin URL": {[]string{"list", "--admin", "ftp://x", "--token-file", flags[3]}, `admin address "ftp://x"`},
		"missing config": {[]string{"list", "--config", "/nonexistent/sidecar.yaml"},
			"invalid config /nonexistent/sidecar.yaml"},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, Upstreams, nil, tc.args...)
			assert.Equal(t, 2, code, stderr)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
		})
	}
	code, stdout, _ := runCLI(t, Upstreams, nil, "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "usage: sidecar upstreams list|drain|undrain|wait")
}

func TestUpstreamsList(t *testing.T) {
	e := admintest.New(t, "app1", "app2")
	_, err := e.Pool.SetDraining("app2", true)
	require.NoError(t, err)

	code, stdout, stderr := runCLI(t, Upstreams, nil, append([]string{"list"}, e.Flags()...)...)
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3, stdout)
	assert.Regexp(t, `^NAME +STATE +WEIGHT +IN-FLIGHT +SERVED +FAILURES +URL$`, lines[0])
	assert.Regexp(t, `^app1 +up +1 +0 +0 +0 +http://127\.0\.0\.1:\d+$`, lines[1])
	assert.Regexp(t, `^app2 +draining +1 +0 +0 +0 +http://`, lines[2])
	assert.Equal(t, strings.Index(lines[0], "URL"), strings.Index(lines[1], "http"), "columns are aligned")

	code, stdout, stderr = runCLI(t, Upstreams, nil, append([]string{"list", "--json"}, e.Flags()...)...)
	require.Equal(t, 0, code, stderr)
	var l admin.UpstreamList
	require.NoError(t, json.Unmarshal([]byte(stdout), &l))
	assert.Equal(t, e.Pool.States(), l.Upstreams)
}

func TestUpstreamsDrainUndrain(t *testing.T) {
	e := admintest.New(t, "app1", "app2")
	for _, tc := range []struct {
		args  []string
		out   string
		state string
	}{
		{[]string{"drain", "app2"}, "app2: draining, 0 in flight\napp2: no request in flight\n", "draining"},
		{[]string{"undrain", "app2"}, "app2: up\n", "up"},
		{[]string{"drain", "--wait=false", "app2"}, "app2: draining, 0 in flight\n", "draining"},
		{[]string{"wait", "app2"}, "app2: no request in flight\n", "draining"},
		{[]string{"undrain", "app2", "--wait-healthy"}, "app2: tcp connect passed while drained\napp2: up\napp2: up, tcp connect passed\n", "up"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCLI(t, Upstreams, nil, append(tc.args, e.Flags()...)...)
			require.Equal(t, 0, code, stderr)
			assert.Equal(t, tc.out, stdout)
			assert.Equal(t, tc.state, e.Pool.States()[1].State)
			assert.Equal(t, "up", e.Pool.States()[0].State, "app1 is untouched")
		})
	}
	code, stdout, stderr := runCLI(t, Upstreams, nil, append([]string{"wait", "app1"}, e.Flags()...)...)
	assert.Equal(t, 0, code)
	assert.Equal(t, "app1: no request in flight\n", stdout)
	assert.Equal(t, "warning: app1 is up, not draining: new requests keep arriving\n", stderr)
}

func TestUpstreamsFailures(t *testing.T) {
	e := admintest.New(t, "app1")
	wrongToken := admintest.WriteFile(t, "wrong", "not-the-admin-token\n")
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"wrong token": {[]string{"list", "--admin", e.Server.URL, "--token-file", wrongToken},
			"rejected the token (401 Unauthorized): check --token-file, admin.token or admin.token_file"},
		"unknown upstream drain": {append([]string{"drain", "nope"}, e.Flags()...),
			`POST /upstreams/nope/drain: 404 Not Found: unknown upstream: "nope"`},
		"unknown upstream wait": {append([]string{"wait", "nope"}, e.Flags()...), `unknown upstream "nope"`},
		"unreachable": {[]string{"list", "--admin", "127.0.0.1:1", "--token-file", e.TokenFile},
			"calling the admin API"},
	} {
		t.Run(name, func(t *testing.T) {
			code, _, stderr := runCLI(t, Upstreams, nil, tc.args...)
			assert.Equal(t, 1, code, stderr)
			assert.Contains(t, stderr, tc.want)
		})
	}
	assert.False(t, e.Pool.States()[0].Draining)
}

// fakeAdmin is a fake admin API for app1 alone, which answers its n-th
// request (from 1) with app1 as state(n) gives it, a JSON object: in the
// list of GET /upstreams, alone for POST /upstreams/app1/drain or
// /undrain, or in a probe result for POST /upstreams/app1/probe, a TCP
// connect that failed with probeErr (passed if probeErr is ""). It returns
// the server and its count of requests.
func fakeAdmin(t *testing.T, state func(n int32) string, probeErr string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var calls atomic.Int32
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+admintest.Token {
			http.Error(w, "unexpected request", http.StatusTeapot)
			return
		}
		switch r.Method + " " + r.URL.Path {
		case "GET /upstreams":
			fmt.Fprintf(w, `{"upstreams":[%s]}`, state(calls.Add(1)))
		case "POST /upstreams/app1/drain", "POST /upstreams/app1/undrain":
			fmt.Fprint(w, state(calls.Add(1)))
		case "POST /upstreams/app1/probe":
			fmt.Fprintf(w, `{"name":"app1","check":"tcp connect","ok":%t,"error":%q,"state":%s}`,
				probeErr == "", probeErr, state(calls.Add(1)))
		default:
			http.Error(w, "unexpected request", http.StatusTeapot)
		}
	}))
	t.Cleanup(fake.Close)
	return fake, &calls
}

// TestUpstreamsWaitTimeout: at --timeout a drain or undrain that waits
// exits 1, naming what it waited for and the last state seen.
func TestUpstreamsWaitTimeout(t *testing.T) {
	tokenFile := admintest.WriteFile(t, "token", admintest.Token)
	for name, tc := range map[string]struct {
		args          []string
		state, stdout string
		probeErr      string
		stderr        string
	}{
		"drain": {[]string{"drain", "app1"}, `{"name":"app1","state":"draining","draining":true,"in_flight":1}`,
			"app1: draining, 1 in flight\n", "", "timed out after 2s: app1 still has 1 request(s) in flight (state draining)"},
		"wait": {[]string{"wait", "app1"}, `{"name":"app1","state":"draining","draining":true,"in_flight":3}`,
			"", "", "timed out after 2s: app1 still has 3 request(s) in flight (state draining)"},
		"undrain --wait-healthy, unhealthy": {[]string{"undrain", "app1", "--wait-healthy"}, `{"name":"app1","state":"unhealthy","in_flight":0}`,
			"app1: tcp connect passed while drained\napp1: unhealthy\n", "", "timed out after 2s: app1 is unhealthy, not up; its last probe (tcp connect) passed"},
		// The rolling-deploy bug: no active check, and not listening: it
		// is never undrained.
		"undrain --wait-healthy, probe fails": {[]string{"undrain", "app1", "--wait-healthy"}, `{"name":"app1","state":"draining","draining":true,"in_flight":0}`,
			"", "dial tcp 127.0.0.1:8081: connect: connection refused",
			"timed out after 2s: its last probe (tcp connect) failed: dial tcp 127.0.0.1:8081: connect: connection refused; app1 stays drained"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel() // each waits out its 2s: a budget a loaded machine needs for the steps before it
			fake, _ := fakeAdmin(t, func(int32) string { return tc.state }, tc.probeErr)
			args := append(tc.args, "--admin", fake.URL, "--token-file", tokenFile, "--timeout", "2s", "--interval", "10ms")
			code, stdout, stderr := runCLI(t, Upstreams, nil, args...)
			assert.Equal(t, 1, code)
			assert.Equal(t, tc.stdout, stdout)
			assert.Contains(t, stderr, tc.stderr)
		})
	}
}

// TestUpstreamsWaitPolls runs wait against a fake API whose in_flight
// falls from 2 to 0 over three polls.
func TestUpstreamsWaitPolls(t *testing.T) {
	fake, polls := fakeAdmin(t, func(n int32) string {
		inFlight := max(0, 3-n) // 2, 1, 0
		return fmt.Sprintf(`{"name":"app1","state":"draining","draining":true,"in_flight":%d}`, inFlight)
	}, "")
	tokenFile := admintest.WriteFile(t, "token", admintest.Token)
	code, stdout, stderr := runCLI(t, Upstreams, nil, "wait", "app1", "--admin", fake.URL, "--token-file", tokenFile, "--interval", "5ms")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "app1: no request in flight\n", stdout)
	assert.Empty(t, stderr, "no warning: app1 is draining")
	assert.Equal(t, int32(3), polls.Load(), "the look before waiting, then polls until in_flight 0")
}

// TestUndrainWaitHealthyWaitsForListen pins the rolling-deploy bug: with
// no active health check (the default config), undrain --wait-healthy
// returned at once although the restarted app did not listen yet. It must
// return only once the app listens.
func TestUndrainWaitHealthyWaitsForListen(t *testing.T) {
	// The app's address, on which nothing listens until the test says so.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	pool, err := proxy.NewPool(proxy.PoolOptions{Upstreams: []proxy.Upstream{
		{Name: "app1", URL: &url.URL{Scheme: "http", Host: addr}},
	}}, nil, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	_, err = pool.SetDraining("app1", true) // drained for its restart
	require.NoError(t, err)
	h, err := admin.New(admin.Options{Token: []byte(admintest.Token), Pool: pool})
	require.NoError(t, err)

	// probed is closed once a probe has been answered; the app does not
	// listen before the test reads it, so that probe failed.
	probed := make(chan struct{})
	var once sync.Once
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r)
		if r.URL.Path == "/upstreams/app1/probe" {
			once.Do(func() { close(probed) })
		}
	}))
	t.Cleanup(api.Close)
	tokenFile := admintest.WriteFile(t, "token", admintest.Token)

	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		var out, errOut bytes.Buffer
		code := Upstreams([]string{"undrain", "app1", "--wait-healthy", "--admin", api.URL, "--token-file", tokenFile,
			"--timeout", "2m", "--interval", "20ms"}, testEnv(&out, &errOut, nil))
		done <- result{code, out.String(), errOut.String()}
	}()

	select {
	case <-probed:
	case r := <-done:
		t.Fatalf("undrain --wait-healthy returned before any probe, with nothing listening: %+v", r)
	case <-time.After(time.Minute):
		t.Fatal("no probe within a minute")
	}
	select {
	case r := <-done:
		t.Fatalf("undrain --wait-healthy returned while nothing listened: %+v", r)
	default:
	}
	assert.Equal(t, "draining", pool.States()[0].State, "not undrained while nothing listens: no request meets a closed port")

	// The app starts listening, late.
	var conns atomic.Int32
	app := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "app1") }),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	l, err = net.Listen("tcp", addr)
	require.NoError(t, err, "listening again on the app's port")
	go func() { _ = app.Serve(l) }() // exits when the cleanup closes app
	t.Cleanup(func() { _ = app.Close() })

	select {
	case r := <-done:
		require.Equal(t, 0, r.code, r.stderr)
		assert.Equal(t, "app1: tcp connect passed while drained\napp1: up\napp1: up, tcp connect passed\n", r.stdout)
		assert.NotContains(t, r.stdout+r.stderr, admintest.Token)
	case <-time.After(2 * time.Minute):
		t.Fatal("undrain --wait-healthy did not return within 2m of the app listening")
	}
	// The probe's connection is in the app's accept queue by now, but its
	// server may not have taken it yet.
	assert.Eventually(t, func() bool { return conns.Load() > 0 }, time.Minute, 5*time.Millisecond,
		"the app was connected to: a probe passed on it")
}
