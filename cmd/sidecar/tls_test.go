package main

import (
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// acmeConfig is checkConfig with ACME on ports 8443 and 8080 (never
// bound: check does not listen) and the given tls.acme keys.
func acmeConfig(acme string) string {
	c := checkConfig("store:\n  type: memory\ntls:\n  http_listen: \"127.0.0.1:8080\"\n  acme:\n    domains: [app.test]\n" + acme)
	return strings.Replace(c, `listen: "127.0.0.1:0"`, `listen: "127.0.0.1:8443"`, 1)
}

// TestCheckAcceptsACMEWithoutContactingTheCA: check builds certmagic, reads
// the CA root, and neither contacts the CA nor creates the storage
// directory; it says where the CA's challenges must reach.
func TestCheckAcceptsACMEWithoutContactingTheCA(t *testing.T) {
	var requests atomic.Int64
	ca := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { requests.Add(1) }))
	t.Cleanup(ca.Close)
	dir := t.TempDir()
	root := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(root, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw}), 0o600))
	storage := filepath.Join(dir, "acme")

	code, stdout, stderr := runCheck(t, acmeConfig(fmt.Sprintf("    ca: %q\n    ca_root: %q\n    storage: %q\n", ca.URL+"/dir", root, storage)))
	assert.Equal(t, 0, code, "stderr: %s", stderr)
	assert.Contains(t, stdout, "is valid")
	assert.Contains(t, stderr, "sidecar: warning: tls.acme: HTTP-01 is answered on port 8080 (tls.http_listen), but the CA connects to port 80")
	assert.Contains(t, stderr, "sidecar: warning: tls.acme: TLS-ALPN-01 is answered on port 8443")
	assert.Zero(t, requests.Load(), "check contacted the CA")
	_, err := os.Stat(storage)
	assert.ErrorIs(t, err, os.ErrNotExist, "check must not create the storage directory")
}

func TestCheckRefusesBadACMEFiles(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))
	for name, tc := range map[string]struct{ acme, want string }{
		"missing CA root":   {fmt.Sprintf("    ca_root: %q\n", filepath.Join(dir, "missing.pem")), "tls.acme.ca_root"},
		"CA root not PEM":   {fmt.Sprintf("    ca_root: %q\n", notPEM), "tls.acme.ca_root: no PEM certificate"},
		"storage is a file": {fmt.Sprintf("    storage: %q\n", notPEM), "tls.acme.storage"},
		"unknown challenge": {"    challenges: [dns-01]\n", "tls.acme.challenges[0]"},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCheck(t, acmeConfig(tc.acme))
			assert.Equal(t, 1, code, "stdout: %s\nstderr: %s", stdout, stderr)
			assert.Contains(t, stderr, tc.want)
		})
	}
}
