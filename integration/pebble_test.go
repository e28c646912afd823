package integration

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/tlstest"
)

// pebble is a running Debian pebble (the ACME test CA), started by
// startPebble, behind a reverse proxy that counts the orders reaching it.
//
// Sidecar's config for it: tls.acme.ca = DirectoryURL, tls.acme.ca_root =
// TLSRootFile (the test CA that signed the TLS certificates of pebble and
// of the proxy in front of it). Certificates pebble issues chain to
// RootPEM, which pebble makes anew at every start.
type pebble struct {
	// DirectoryURL is the ACME directory, through the counting proxy.
	DirectoryURL string
	// TLSRootFile is a PEM file of the CA that signed the directory's TLS
	// certificate.
	TLSRootFile string
	// RootPEM is the root of the certificates pebble issues, read from its
	// management endpoint /roots/0.
	RootPEM []byte
	// Proc is the pebble process (its output is printed when a test fails).
	Proc *proc

	orders atomic.Int64
}

// pebbleOptions configures startPebble; the zero value validates nothing
// for real (see AlwaysValid).
type pebbleOptions struct {
	// Validate turns PEBBLE_VA_ALWAYS_VALID off: challenges are then
	// checked for real, so DNSServer, HTTPPort and TLSPort must be set.
	Validate bool
	// DNSServer is the host:port pebble resolves names with (-dnsserver),
	// e.g. a pebble-challtestsrv's.
	DNSServer string
	// HTTPPort and TLSPort are where pebble connects for HTTP-01 and
	// TLS-ALPN-01 (its httpPort and tlsPort; a real CA uses 80 and 443).
	HTTPPort, TLSPort int
}

// pebbleOrderPath is pebble's newOrder endpoint, the one request per
// certificate order.
const pebbleOrderPath = "/order-plz"

// startPebble starts pebble on free ports with a TLS certificate made for
// the test, and a counting proxy in front of its ACME API, and returns
// once pebble answers. t.Cleanup stops both. Pebble never sleeps between
// validation attempts (PEBBLE_VA_NOSLEEP) and never rejects a good nonce
// (PEBBLE_WFE_NONCEREJECT=0).
func startPebble(t *testing.T, opts pebbleOptions) *pebble {
	t.Helper()
	bin := findBinary(t, "pebble", "pebble")
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "pebble's TLS CA")
	own := ca.Server(t, "127.0.0.1", "localhost")

	listen, manage := freeAddr(t), freeAddr(t)
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  listen,
		"managementListenAddress":        manage,
		"certificate":                    own.CertFile,
		"privateKey":                     own.KeyFile,
		"httpPort":                       orDefault(opts.HTTPPort, 5002),
		"tlsPort":                        orDefault(opts.TLSPort, 5001),
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}}
	b, err := json.Marshal(conf)
	require.NoError(t, err)
	confFile := filepath.Join(dir, "pebble-config.json")
	require.NoError(t, os.WriteFile(confFile, b, 0o600))

	env := []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"}
	if !opts.Validate {
		env = append(env, "PEBBLE_VA_ALWAYS_VALID=1")
	}
	args := []string{"-config", confFile}
	if opts.DNSServer != "" {
		args = append(args, "-dnsserver", opts.DNSServer)
	}
	p := &pebble{TLSRootFile: ca.CertFile}
	p.Proc = startProc(t, "pebble", env, bin, args...)

	// pebble's TLS certificate (and the proxy's) are signed by ca.
	client := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	t.Cleanup(client.CloseIdleConnections)
	waitFor(t, p.Proc, "pebble's root on "+manage, func() bool {
		resp, err := client.Get("https://" + manage + "/roots/0")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil || resp.StatusCode != http.StatusOK {
			return false
		}
		p.RootPEM = body
		return true
	})

	target, err := url.Parse("https://" + listen)
	require.NoError(t, err)
	rp := httputil.NewSingleHostReverseProxy(target) // keeps the Host, from which pebble builds its URLs
	rp.Transport = client.Transport
	front := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == pebbleOrderPath {
			p.orders.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	front.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t, "127.0.0.1").Load(t)}}
	front.StartTLS()
	t.Cleanup(front.Close)
	p.DirectoryURL = front.URL + "/dir"
	return p
}

// Orders is how many certificate orders (newOrder requests) reached pebble.
func (p *pebble) Orders() int64 { return p.orders.Load() }

// RootPool is a pool holding only the root of pebble's certificates.
func (p *pebble) RootPool(t testing.TB) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(p.RootPEM), "pebble's /roots/0 is not PEM: %q", p.RootPEM)
	return pool
}

// startChallTestSrv starts pebble-challtestsrv as a DNS server only, which
// answers every A query with 127.0.0.1 and AAAA queries with nothing, and
// returns its address for pebbleOptions.DNSServer.
func startChallTestSrv(t *testing.T) string {
	t.Helper()
	bin := findBinary(t, "pebble-challtestsrv", "pebble")
	dns := freeAddr(t)
	p := startProc(t, "pebble-challtestsrv", nil, bin,
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-dns01", dns, "-http01", "", "-https01", "", "-tlsalpn01", "",
		"-management", freeAddr(t))
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{Timeout: time.Second}).DialContext(ctx, network, dns)
	}}
	waitFor(t, p, "DNS answers on "+dns, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		ips, err := resolver.LookupHost(ctx, "app.test")
		return err == nil && len(ips) > 0 && ips[0] == "127.0.0.1"
	})
	return dns
}

// portOf is the port of a host:port.
func portOf(t testing.TB, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	n, err := strconv.Atoi(port)
	require.NoError(t, err)
	return n
}

func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
