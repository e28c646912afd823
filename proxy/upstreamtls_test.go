package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/tlstest"
)

// mtlsApp is an HTTPS app whose certificate, from ca, names app.internal
// and 127.0.0.1, and which requires a client certificate from ca and
// would speak HTTP/2. It answers with the client certificate's common
// name, the server name the client sent (SNI) and the protocol; /healthz
// answers 204.
func mtlsApp(t *testing.T, ca *tlstest.CA) *httptest.Server {
	t.Helper()
	return ca.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_, _ = io.WriteString(w, r.TLS.PeerCertificates[0].Subject.CommonName+" "+r.TLS.ServerName+" "+r.Proto)
	}), "app.internal", "127.0.0.1")
}

// tlsPool is a pool over the one upstream at url, whose transport uses
// conf, and its poolTransport.
func tlsPool(t *testing.T, url string, conf *tls.Config, h HealthCheck) (*Pool, *poolTransport) {
	t.Helper()
	tr := NewTransport(TransportOptions{TLSClientConfig: conf})
	t.Cleanup(tr.CloseIdleConnections)
	pool, err := NewPool(PoolOptions{Upstreams: []Upstream{{Name: "app", URL: mustParse(t, url)}}, Health: h}, tr, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	return pool, &poolTransport{pool: pool, next: tr}
}

// getVia sends GET /whoami through pt and returns the status and body,
// or the error; gotConn, when not nil, hears of the connection each try
// got.
func getVia(t *testing.T, pt *poolTransport, gotConn func(httptrace.GotConnInfo)) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if gotConn != nil {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: gotConn})
	}
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, "http://sidecar/whoami", nil)
	req.RequestURI = ""
	resp, err := pt.RoundTrip(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// An https:// upstream gets the client certificate and the configured
// server name, in HTTP/1.1, on connections that keep the keep-alive
// liveness check (the TLS connection wraps a liveConn).
func TestHTTPSUpstreamWithClientCertificate(t *testing.T) {
	ca := tlstest.NewCA(t, "upstream CA")
	app := mtlsApp(t, ca)
	conf := ca.ClientConfig(t, ca.Client(t, "sidecar-1"))
	conf.ServerName = "app.internal"
	_, pt := tlsPool(t, app.URL, conf, HealthCheck{})

	var live []bool
	for range 2 {
		got, err := getVia(t, pt, func(i httptrace.GotConnInfo) {
			_, ok := asLiveConn(i.Conn)
			live = append(live, ok)
		})
		require.NoError(t, err)
		assert.Equal(t, "sidecar-1 app.internal HTTP/1.1", got)
	}
	assert.Equal(t, []bool{true, true}, live, "the TLS connection's TCP connection is a liveConn")
}

// Without the client certificate the app refuses the handshake: the try
// fails and counts against the upstream (a configuration fault is not the
// client's).
func TestHTTPSUpstreamWithoutClientCertificateFails(t *testing.T) {
	ca := tlstest.NewCA(t, "upstream CA")
	app := mtlsApp(t, ca)
	pool, pt := tlsPool(t, app.URL, ca.ClientConfig(t, tlstest.Pair{}), HealthCheck{})

	_, err := getVia(t, pt, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "certificate required")
	assert.Equal(t, uint64(1), pool.States()[0].Failures)
}

// Probes of an https:// upstream without a health path shake hands with
// the transport's TLS configuration; with a path they GET it over TLS.
func TestProbeHTTPSUpstream(t *testing.T) {
	ca := tlstest.NewCA(t, "upstream CA")
	app := mtlsApp(t, ca)
	client := ca.Client(t, "sidecar-1")
	ctx := context.Background()

	pool, _ := tlsPool(t, app.URL, ca.ClientConfig(t, client), HealthCheck{})
	r, err := pool.Probe(ctx, "app")
	require.NoError(t, err)
	assert.Equal(t, "tls handshake", r.Check)
	assert.True(t, r.OK, r.Error)

	other := tlstest.NewCA(t, "another CA")
	pool, _ = tlsPool(t, app.URL, other.ClientConfig(t, client), HealthCheck{})
	r, err = pool.Probe(ctx, "app")
	require.NoError(t, err)
	assert.False(t, r.OK)
	assert.Contains(t, r.Error, "certificate signed by unknown authority")

	wrongName := ca.ClientConfig(t, client)
	wrongName.ServerName = "db.internal"
	pool, _ = tlsPool(t, app.URL, wrongName, HealthCheck{})
	r, err = pool.Probe(ctx, "app")
	require.NoError(t, err)
	assert.False(t, r.OK)
	assert.Contains(t, r.Error, "not db.internal")

	health := HealthCheck{Path: "/healthz", Interval: waitTimeout, Timeout: waitTimeout}
	pool, _ = tlsPool(t, app.URL, ca.ClientConfig(t, client), health)
	r, err = pool.Probe(ctx, "app")
	require.NoError(t, err)
	assert.Equal(t, ProbeResult{Name: "app", Check: "GET /healthz", OK: true, State: pool.States()[0]}, r)

	pool, _ = tlsPool(t, app.URL, ca.ClientConfig(t, tlstest.Pair{}), health)
	r, err = pool.Probe(ctx, "app")
	require.NoError(t, err)
	assert.False(t, r.OK, "a health check without the client certificate fails")
	assert.Contains(t, r.Error, "certificate required")
}
