package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testCookieSecret = "cookie-secret-0123456789abcdef0123456789"
	testHeaderSecret = "header-secret-0123456789abcdef0123456789"
)

// checkConfig is a valid config with room for more keys at the end.
func checkConfig(extra string) string {
	return fmt.Sprintf(`
listen: "127.0.0.1:0"
upstreams:
  - name: app1
    url: "http://127.0.0.1:8081"
session:
  secrets: [%q]
headers:
  secret: %q
%s`, testCookieSecret, testHeaderSecret, extra)
}

func runCheck(t *testing.T, yaml string) (code int, stdout, stderr string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sidecar.yaml")
	require.NoError(t, os.WriteFile(p, []byte(yaml), 0o600))
	var out, errOut bytes.Buffer
	code = run([]string{"check", "--config", p}, &out, &errOut)
	return code, out.String(), errOut.String()
}

// TestCheckRefusesWhatServeRefuses pins the bug where `sidecar check`
// called configs valid that `serve` then refused at start.
func TestCheckRefusesWhatServeRefuses(t *testing.T) {
	dir := t.TempDir()
	for name, tc := range map[string]struct{ extra, key string }{
		"missing TLS files": {fmt.Sprintf("tls:\n  cert_file: %q\n  key_file: %q\n",
			filepath.Join(dir, "missing.crt"), filepath.Join(dir, "missing.key")), "tls.cert_file"},
		"handover with bolt": {fmt.Sprintf("store:\n  type: bolt\n  bolt:\n    path: %q\nserver:\n  handover_socket: %q\n",
			filepath.Join(dir, "s.db"), filepath.Join(dir, "h.sock")), "handover_socket"},
		"missing bolt directory": {fmt.Sprintf("store:\n  type: bolt\n  bolt:\n    path: %q\n",
			filepath.Join(dir, "nope", "s.db")), "store.bolt.path"},
		"bolt path is a directory": {fmt.Sprintf("store:\n  type: bolt\n  bolt:\n    path: %q\n", dir), "store.bolt.path"},
		"handover socket in a missing directory": {fmt.Sprintf("store:\n  type: memory\nserver:\n  handover_socket: %q\n",
			filepath.Join(dir, "nope", "h.sock")), "server.handover_socket"},
		// The CA must reach a known port (tls_test.go has ACME accepted).
		"ACME on port 0": {"tls:\n  acme:\n    domains: [example.com]\n    email: ops@example.com\n", "listen: port 0 cannot be used with tls.acme"},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCheck(t, checkConfig(tc.extra))
			assert.Equal(t, 1, code, "stdout: %s\nstderr: %s", stdout, stderr)
			assert.Contains(t, stderr, tc.key)
			assert.NotContains(t, stdout, "valid")
			assert.NotContains(t, stderr, testCookieSecret)
		})
	}
}

func TestCheckAcceptsServableConfigs(t *testing.T) {
	dir := t.TempDir()
	for name, extra := range map[string]string{
		"memory":                        "store:\n  type: memory\n",
		"bolt in an existing directory": fmt.Sprintf("store:\n  type: bolt\n  bolt:\n    path: %q\n", filepath.Join(dir, "s.db")),
		// serve starts while Redis is down (session requests get 503), so
		// check must not need Redis either.
		"redis that is not running": "store:\n  type: redis\n  redis:\n    addrs: [\"127.0.0.1:1\"]\n",
		"admin API":                 "admin:\n  listen: \"127.0.0.1:19090\"\n  token: \"admin-token-0123456789abcdef0123\"\n",
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCheck(t, checkConfig(extra))
			assert.Equal(t, 0, code, "stderr: %s", stderr)
			assert.Contains(t, stdout, "is valid")
		})
	}
	_, err := os.Stat(filepath.Join(dir, "s.db"))
	assert.ErrorIs(t, err, os.ErrNotExist, "check must not create the bolt file")
}

// TestCheckWarnsWhenSessionCannotFitHeader: session.max_bytes past what
// headers.max_bytes can carry is valid but never reachable; check says so
// and still passes.
func TestCheckWarnsWhenSessionCannotFitHeader(t *testing.T) {
	for name, tc := range map[string]struct {
		session, header string
		warn            bool
	}{
		"defaults":                  {"", "", false},
		"old default max_bytes":     {"  max_bytes: 8192\n", "", true},
		"raised header budget":      {"  max_bytes: 8192\n", "  max_bytes: 12288\n", false},
		"header budget lowered":     {"", "  max_bytes: 2048\n", true},
		"max_bytes at the boundary": {"  max_bytes: 2737\n", "", false},
	} {
		t.Run(name, func(t *testing.T) {
			yaml := fmt.Sprintf("listen: \"127.0.0.1:0\"\nstore:\n  type: memory\nupstreams:\n  - name: app1\n    url: \"http://127.0.0.1:8081\"\n"+
				"session:\n  secrets: [%q]\n%sheaders:\n  secret: %q\n%s", testCookieSecret, tc.session, testHeaderSecret, tc.header)
			code, stdout, stderr := runCheck(t, yaml)
			assert.Equal(t, 0, code, "stderr: %s", stderr)
			assert.Contains(t, stdout, "is valid")
			if tc.warn {
				assert.Contains(t, stderr, "sidecar: warning: session.max_bytes (")
				assert.Contains(t, stderr, "cannot fit headers.max_bytes")
			} else {
				assert.Empty(t, stderr)
			}
		})
	}
}
