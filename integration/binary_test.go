package integration

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sidecar.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

const yamlTemplate = `
listen: %q
upstreams:
  - name: app1
    url: %q
store:
  type: memory
session:
  secrets: [%q]
headers:
  secret: %q
server:
  shutdown_timeout: %s
`

func TestCheckCommand(t *testing.T) {
	good := writeConfig(t, fmt.Sprintf(yamlTemplate, "127.0.0.1:0", "http://127.0.0.1:8081", cookieSecret, headerSecret, "5s"))
	out, code := runSidecar(t, nil, "check", "--config", good)
	require.Equal(t, 0, code, "%s", out)
	assert.Contains(t, out, "valid")

	out, code = runSidecar(t, nil, "check", "--config", "../config.example.yaml")
	require.Equal(t, 0, code, "the shipped example config must validate: %s", out)

	for name, tc := range map[string]struct{ yaml, key string }{
		"typo in key": {fmt.Sprintf(yamlTemplate, "127.0.0.1:0", "http://x", cookieSecret, headerSecret, "5s") +
			"\nsession_:\n  idle_timeout: 1m\n", "session_"},
		"bad duration": {fmt.Sprintf(yamlTemplate, "127.0.0.1:0", "http://x", cookieSecret, headerSecret, "soon"), "server.shutdown_timeout"},
		"short secret": {fmt.Sprintf(yamlTemplate, "127.0.0.1:0", "http://x", "short", headerSecret, "5s"), "session.secrets[0]"},
	} {
		t.Run(name, func(t *testing.T) {
			out, code := runSidecar(t, nil, "check", "--config", writeConfig(t, tc.yaml))
			assert.Equal(t, 1, code, "%s", out)
			assert.Contains(t, out, tc.key)
			assert.NotContains(t, out, cookieSecret)
		})
	}
}

// TestSIGTERMDrainsInFlight runs the real binary, sends it SIGTERM while a
// request is in flight, and checks that the request completes, new
// connections are refused, and the process exits 0.
func TestSIGTERMDrainsInFlight(t *testing.T) {
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		_, _ = io.WriteString(w, "done")
	}))
	t.Cleanup(app.Close)
	releaseApp := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseApp)

	sc := startSidecarProc(t, sidecarSpec{Upstreams: []upstreamSpec{{Name: "app1", URL: app.URL}}})
	resp, err := http.Get(sc.URL() + "/")
	require.NoError(t, err)
	drain(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode, "a request before the drain")

	type result struct {
		status int
		body   string
		err    error
	}
	inflight := make(chan result, 1)
	go func() { // exits when the slow request is answered or fails
		resp, err := http.Get(sc.URL() + "/slow")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inflight <- result{resp.StatusCode, string(b), err}
	}()
	receive(t, arrived, "the slow request reaching the app")
	sc.p.signal(syscall.SIGTERM)

	// The listener closes promptly while the slow request is still held.
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", sc.addr, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	}, readyTimeout, pollEvery, "sidecar kept accepting after SIGTERM")
	require.True(t, sc.p.running(), "sidecar exited (%s) before the in-flight request finished\n%s", sc.p.exitStatus(), sc.p.dump())

	releaseApp()
	r := receive(t, inflight, "the in-flight request's response")
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "done", r.body)
	assert.Equal(t, 0, sc.p.wait(), "exit status after a clean drain\n%s", sc.p.dump())
	assert.Positive(t, sc.count("draining in-flight requests"))
}
