package integration

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildBinary compiles cmd/sidecar once per test binary run.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sidecar")
	cmd := exec.Command("go", "build", "-o", bin, "../cmd/sidecar")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sidecar.yaml")
	require.NoError(t, os.WriteFile(p, []byte(body), 0o600))
	return p
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
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
	bin := buildBinary(t)
	good := writeConfig(t, fmt.Sprintf(yamlTemplate, "127.0.0.1:0", "http://127.0.0.1:8081", cookieSecret, headerSecret, "5s"))
	out, err := exec.Command(bin, "check", "--config", good).CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Contains(t, string(out), "valid")

	example, err := exec.Command(bin, "check", "--config", "../config.example.yaml").CombinedOutput()
	require.NoError(t, err, "the shipped example config must validate: %s", example)

	for name, tc := range map[string]struct{ yaml, key string }{
		"typo in key": {fmt.Sprintf(yamlTemplate, "127.0.0.1:0", "http://x", cookieSecret, headerSecret, "5s") +
			"\nsession_:\n  idle_timeout: 1m\n", "session_"},
		"bad duration": {fmt.Sprintf(yamlTemplate, "127.0.0.1:0", "http://x", cookieSecret, headerSecret, "soon"), "server.shutdown_timeout"},
		"short secret": {fmt.Sprintf(yamlTemplate, "127.0.0.1:0", "http://x", "short", headerSecret, "5s"), "session.secrets[0]"},
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin, "check", "--config", writeConfig(t, tc.yaml))
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			require.ErrorAs(t, err, &exit)
			assert.Equal(t, 1, exit.ExitCode())
			assert.Contains(t, string(out), tc.key)
			assert.NotContains(t, string(out), cookieSecret)
		})
	}
}

// TestSIGTERMDrainsInFlight runs the real binary, sends it SIGTERM while a
// request is in flight, and checks that the request completes, new
// connections are refused, and the process exits 0.
func TestSIGTERMDrainsInFlight(t *testing.T) {
	bin := buildBinary(t)
	arrived := make(chan struct{}, 1)
	release := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "done")
	}))
	defer app.Close()
	defer close(release)

	addr := freePort(t)
	cfg := writeConfig(t, fmt.Sprintf(yamlTemplate, addr, app.URL, cookieSecret, headerSecret, "10s"))
	var logs bytes.Buffer
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })

	base := "http://" + addr
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond, "sidecar did not come up: %s", &logs)

	type result struct {
		status int
		body   string
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			inflight <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		inflight <- result{resp.StatusCode, string(b), err}
	}()
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the slow request never reached the app")
	}
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))

	// The listener closes promptly while the slow request is still held.
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return true
		}
		c.Close()
		return false
	}, 5*time.Second, 10*time.Millisecond, "sidecar kept accepting after SIGTERM")
	select {
	case err := <-exited:
		t.Fatalf("sidecar exited before the in-flight request finished: %v\n%s", err, &logs)
	default:
	}

	release <- struct{}{}
	r := <-inflight
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.Equal(t, "done", r.body)
	select {
	case err := <-exited:
		assert.NoError(t, err, "exit status after a clean drain\n%s", &logs)
	case <-time.After(10 * time.Second):
		t.Fatalf("sidecar did not exit after draining\n%s", &logs)
	}
	assert.Contains(t, logs.String(), "draining in-flight requests")
}
