package integration

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/tlstest"
)

// acmeDomain is the name Sidecar obtains certificates for from pebble;
// .test is reserved (RFC 2606), so no real CA or resolver knows it.
const acmeDomain = "app.test"

// acmeConfig is baseConfig with tls.acme on for acmeDomain from p, the
// proxy on tlsAddr and the plain-HTTP listener on httpAddr, offering
// challenges (nil: the default, both).
func acmeConfig(t *testing.T, upstream string, p *pebble, tlsAddr, httpAddr string, challenges ...config.ACMEChallenge) *config.Config {
	c := baseConfig(upstream)
	c.Listen, c.TLS.HTTPListen = tlsAddr, httpAddr
	c.TLS.ACME.Domains = []string{acmeDomain}
	c.TLS.ACME.CA = p.DirectoryURL
	c.TLS.ACME.CARoot = p.TLSRootFile
	c.TLS.ACME.Storage = acmeStorageDir(t)
	if challenges != nil {
		c.TLS.ACME.Challenges = challenges
	}
	return c
}

// acmeStorageDir is a temporary directory for certmagic's storage, removed
// once the test is over. Not t.TempDir: certmagic cannot be waited for (see
// tlsedge.ACME), so an obtain job Sidecar's shutdown cancelled may still
// take or release its lock file under locks/ while the directory goes, and
// t.TempDir's one RemoveAll then fails the test ("directory not empty").
// The removal is retried until the job has let go.
func acmeStorageDir(t *testing.T) string {
	dir, err := os.MkdirTemp("", "sidecar-acme-")
	require.NoError(t, err)
	t.Cleanup(func() {
		waitUntil(t, "certmagic's storage directory to be removed", func() (bool, string) {
			err := os.RemoveAll(dir)
			return err == nil, fmt.Sprint(err)
		})
	})
	return dir
}

// waitIssued waits until Sidecar at addr completes a handshake for
// acmeDomain with a client that trusts only pebble's root. Issuance takes
// about a second here.
func waitIssued(t *testing.T, addr string, p *pebble) {
	t.Helper()
	roots := p.RootPool(t)
	waitUntil(t, "a certificate from pebble", func() (bool, string) {
		leaf, err := servedCert(addr, acmeDomain, roots)
		if err != nil {
			return false, "handshake: " + err.Error()
		}
		t.Logf("served a certificate for %v from %s", leaf.DNSNames, leaf.Issuer)
		return true, ""
	})
}

// requireProxiedOverACME sends a request for acmeDomain to Sidecar at addr,
// trusting only pebble's root, and requires the app's answer over HTTP/2.
func requireProxiedOverACME(t *testing.T, addr string, p *pebble) {
	t.Helper()
	client := tlsClient(p.RootPool(t), acmeDomain)
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get("https://" + addr + "/set?k=a&v=1")
	require.NoError(t, err)
	var view appView
	require.NoError(t, jsonDecode(resp, &view))
	drain(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "app", view.Server, "proxied to the app")
	assert.Equal(t, "HTTP/2.0", resp.Proto)
	if ck := setCookieFor(resp); assert.NotNil(t, ck) {
		assert.True(t, ck.Secure)
	}
}

// TestACMEObtainsCertificate: Sidecar obtains a certificate for acmeDomain
// from pebble (challenges always valid), with one order, and a client
// that trusts only pebble's root gets a proxied answer.
func TestACMEObtainsCertificate(t *testing.T) {
	p := startPebble(t, pebbleOptions{})
	app := newApp(t, "app")
	c := acmeConfig(t, app.URL, p, freeAddr(t), freeAddr(t))
	m, _ := startSidecar(t, c)
	waitIssued(t, m.Addr(), p)
	requireProxiedOverACME(t, m.Addr(), p)
	assert.Equal(t, int64(1), p.Orders(), "one certificate order reached pebble")
}

// TestACMEValidatedForReal: pebble validates the challenge (no
// PEBBLE_VA_ALWAYS_VALID), resolving acmeDomain to 127.0.0.1 through
// pebble-challtestsrv and connecting to Sidecar's ports: HTTP-01 answered
// on tls.http_listen, TLS-ALPN-01 in the handshake on listen.
func TestACMEValidatedForReal(t *testing.T) {
	dns := startChallTestSrv(t)
	app := newApp(t, "app")
	for _, ch := range []config.ACMEChallenge{config.ChallengeHTTP01, config.ChallengeTLSALPN01} {
		t.Run(string(ch), func(t *testing.T) {
			tlsAddr, httpAddr := freeAddr(t), freeAddr(t)
			p := startPebble(t, pebbleOptions{Validate: true, DNSServer: dns,
				HTTPPort: portOf(t, httpAddr), TLSPort: portOf(t, tlsAddr)})
			m, _ := startSidecar(t, acmeConfig(t, app.URL, p, tlsAddr, httpAddr, ch))
			waitIssued(t, m.Addr(), p)
			requireProxiedOverACME(t, m.Addr(), p)
			assert.Equal(t, int64(1), p.Orders())
		})
	}
}

// TestACMEServesWhileCAIsDown: with a CA that cannot be reached, serve
// starts anyway; a handshake for the domain fails at once with a TLS
// alert (no certificate yet) instead of hanging, and the HTTP listener
// redirects.
func TestACMEServesWhileCAIsDown(t *testing.T) {
	ca := tlstest.NewCA(t, "unreachable ACME CA")
	app := newApp(t, "app")
	c := acmeConfig(t, app.URL, &pebble{DirectoryURL: "https://" + freeAddr(t) + "/dir", TLSRootFile: ca.CertFile},
		freeAddr(t), freeAddr(t))
	m, _ := startSidecar(t, c)

	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: requestTimeout}, "tcp", m.Addr(),
		&tls.Config{ServerName: acmeDomain, RootCAs: ca.Pool()})
	if err == nil {
		_ = conn.Close()
	}
	var opErr *net.OpError
	require.True(t, errors.As(err, &opErr) && opErr.Op == "remote error", "a TLS alert from Sidecar, got %v", err)

	req, err := http.NewRequest(http.MethodGet, "http://"+c.TLS.HTTPListen+"/x", nil)
	require.NoError(t, err)
	req.Host = acmeDomain
	resp, err := (&http.Client{Timeout: requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	require.NoError(t, err)
	drain(resp.Body)
	assert.Equal(t, http.StatusPermanentRedirect, resp.StatusCode)
}
