package integration

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/tlstest"
)

// TestStaticCertificate: with tls.cert_file and tls.key_file Sidecar serves
// HTTPS with HTTP/2, its session cookie is Secure, HSTS is added, and
// replacing the two files (rename over, as a rotation does) switches the
// served certificate without a restart, within tlsedge.DefaultCheckInterval
// (5s) of the rotation, well inside waitUntil's bound.
func TestStaticCertificate(t *testing.T) {
	ca := tlstest.NewCA(t, "sidecar integration test CA")
	app := newApp(t, "app")
	c := baseConfig(app.URL)
	first := ca.Server(t, "app.test", "127.0.0.1")
	c.TLS.CertFile, c.TLS.KeyFile = first.CertFile, first.KeyFile
	c.TLS.HSTS = 365 * 24 * time.Hour
	m, _ := startSidecar(t, c)
	base := "https://" + m.Addr()
	client := tlsClient(ca.Pool(), "app.test")
	t.Cleanup(client.CloseIdleConnections)

	resp, err := client.Get(base + "/set?k=a&v=1")
	require.NoError(t, err)
	drain(resp.Body)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "HTTP/2.0", resp.Proto, "HTTP/2 negotiated by ALPN")
	ck := setCookieFor(resp)
	require.NotNil(t, ck, "the write created a session")
	assert.True(t, ck.Secure, "the session cookie is Secure on HTTPS")
	assert.Equal(t, "max-age=31536000", resp.Header.Get("Strict-Transport-Security"))

	// The rotation: a new pair written next to the old and renamed over
	// it, certificate first. Between the two renames the pair does not
	// match: the old one goes on being served.
	second := ca.Server(t, "app.test", "127.0.0.1")
	require.NotEqual(t, first.Serial, second.Serial)
	leaf, err := servedCert(m.Addr(), "app.test", ca.Pool())
	require.NoError(t, err)
	require.Equal(t, first.Serial, leaf.SerialNumber.Int64(), "the first certificate served before the rotation")
	for file, data := range map[string][]byte{c.TLS.CertFile: second.CertPEM, c.TLS.KeyFile: second.KeyPEM} {
		require.NoError(t, os.WriteFile(file+".new", data, 0o600))
	}
	require.NoError(t, os.Rename(c.TLS.CertFile+".new", c.TLS.CertFile))
	require.NoError(t, os.Rename(c.TLS.KeyFile+".new", c.TLS.KeyFile))
	waitUntil(t, "the new certificate served", func() (bool, string) {
		leaf, err := servedCert(m.Addr(), "app.test", ca.Pool())
		require.NoError(t, err, "a handshake failed during the rotation")
		return leaf.SerialNumber.Int64() == second.Serial, "serial " + leaf.SerialNumber.String()
	})
	resp, err = client.Get(base + "/")
	require.NoError(t, err)
	drain(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestTLSMinVersion: TLS 1.2 is the default minimum; tls.min_version "1.3"
// refuses 1.2 clients.
func TestTLSMinVersion(t *testing.T) {
	ca := tlstest.NewCA(t, "sidecar integration test CA")
	app := newApp(t, "app")
	handshake := func(addr string, max uint16) error {
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "app.test",
			MinVersion: tls.VersionTLS10, MaxVersion: max})
		if err == nil {
			_ = conn.Close()
		}
		return err
	}
	for _, tc := range []struct {
		min      config.TLSVersion
		accepted []uint16
		refused  []uint16
	}{
		{config.TLS12, []uint16{tls.VersionTLS12, tls.VersionTLS13}, []uint16{tls.VersionTLS11}},
		{config.TLS13, []uint16{tls.VersionTLS13}, []uint16{tls.VersionTLS12}},
	} {
		t.Run(string(tc.min), func(t *testing.T) {
			c := baseConfig(app.URL)
			pair := ca.Server(t, "app.test")
			c.TLS.CertFile, c.TLS.KeyFile = pair.CertFile, pair.KeyFile
			c.TLS.MinVersion = tc.min
			m, _ := startSidecar(t, c)
			for _, v := range tc.accepted {
				assert.NoError(t, handshake(m.Addr(), v), "TLS version %x", v)
			}
			for _, v := range tc.refused {
				assert.Error(t, handshake(m.Addr(), v), "TLS version %x", v)
			}
		})
	}
}

// TestHTTPListenerRedirects: tls.http_listen answers every request with a
// 308 to the same host, path and query on HTTPS, with the HTTPS port (the
// port of listen) when it is not 443, and the redirect leads to a proxied
// answer. Without ACME, a challenge path is redirected like any other.
func TestHTTPListenerRedirects(t *testing.T) {
	ca := tlstest.NewCA(t, "sidecar integration test CA")
	app := newApp(t, "app")
	c := baseConfig(app.URL)
	c.Listen, c.TLS.HTTPListen = freeAddr(t), freeAddr(t)
	pair := ca.Server(t, "app.test", "127.0.0.1")
	c.TLS.CertFile, c.TLS.KeyFile = pair.CertFile, pair.KeyFile
	c.TLS.HSTS = time.Hour
	m, _ := startSidecar(t, c)
	tlsPort := c.RedirectPort()
	require.Equal(t, m.Addr(), fmt.Sprintf("127.0.0.1:%d", tlsPort))

	plain := &http.Client{
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       requestTimeout,
	}
	t.Cleanup(plain.CloseIdleConnections)
	for _, path := range []string{"/a/b?x=1&y=two", "/.well-known/acme-challenge/token"} {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			req, err := http.NewRequest(method, "http://"+c.TLS.HTTPListen+path, nil)
			require.NoError(t, err)
			req.Host = "app.test"
			resp, err := plain.Do(req)
			require.NoError(t, err)
			drain(resp.Body)
			assert.Equal(t, http.StatusPermanentRedirect, resp.StatusCode, "%s %s", method, path)
			assert.Equal(t, fmt.Sprintf("https://app.test:%d%s", tlsPort, path), resp.Header.Get("Location"), "%s %s", method, path)
			assert.Empty(t, resp.Header.Get("Strict-Transport-Security"), "HSTS only over HTTPS")
		}
	}

	// Follow it: app.test resolves to Sidecar's TLS listener.
	client := tlsClient(ca.Pool(), "app.test")
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get("https://" + m.Addr() + "/a/b?x=1&y=two")
	require.NoError(t, err)
	var view appView
	require.NoError(t, jsonDecode(resp, &view))
	drain(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "app", view.Server)
	assert.Equal(t, "max-age=3600", resp.Header.Get("Strict-Transport-Security"))
}
