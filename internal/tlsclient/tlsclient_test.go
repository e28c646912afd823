package tlsclient

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/tlstest"
)

// mtlsServer is an HTTPS server for ca's "localhost" certificate that
// requires a client certificate from ca and answers with its common name.
func mtlsServer(t *testing.T, ca *tlstest.CA) *httptest.Server {
	t.Helper()
	return ca.NewServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.TLS.PeerCertificates[0].Subject.CommonName))
	}), "localhost", "127.0.0.1")
}

// get makes one request on a new connection with conf.
func get(t *testing.T, url string, conf *tls.Config) (string, error) {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: conf, DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var b [64]byte
	n, _ := resp.Body.Read(b[:])
	return string(b[:n]), nil
}

func TestNewTrustsRootsAndPresentsTheCertificate(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	srv := mtlsServer(t, ca)
	roots, err := LoadRoots(ca.CertFile)
	require.NoError(t, err)
	pair := ca.Client(t, "sidecar-1")
	cert, err := LoadCertificate(pair.CertFile, pair.KeyFile, nil)
	require.NoError(t, err)

	got, err := get(t, srv.URL, New(Options{RootCAs: roots, Certificate: cert}))
	require.NoError(t, err)
	assert.Equal(t, "sidecar-1", got)

	_, err = get(t, srv.URL, New(Options{RootCAs: roots}))
	assert.Error(t, err, "the server requires a client certificate")

	other, err := LoadRoots(tlstest.NewCA(t, "other CA").CertFile)
	require.NoError(t, err)
	_, err = get(t, srv.URL, New(Options{RootCAs: other, Certificate: cert}))
	var verr *tls.CertificateVerificationError
	assert.ErrorAs(t, err, &verr, "a server from another CA is refused")

	// The server name replaces the URL's host: 127.0.0.1 is in the
	// certificate, "elsewhere" is not.
	_, err = get(t, srv.URL, New(Options{RootCAs: roots, Certificate: cert, ServerName: "elsewhere"}))
	assert.ErrorAs(t, err, &verr)
	got, err = get(t, srv.URL, New(Options{RootCAs: roots, Certificate: cert, ServerName: "localhost"}))
	require.NoError(t, err)
	assert.Equal(t, "sidecar-1", got)
}

func TestNewDefaults(t *testing.T) {
	c := New(Options{})
	assert.Equal(t, uint16(tls.VersionTLS12), c.MinVersion)
	assert.Nil(t, c.RootCAs, "system roots")
	assert.Nil(t, c.GetClientCertificate)
	assert.False(t, c.InsecureSkipVerify)
	assert.Equal(t, uint16(tls.VersionTLS13), New(Options{MinVersion: tls.VersionTLS13}).MinVersion)
}

func TestLoadErrorsNameTheFile(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	pair := ca.Client(t, "c")
	other := ca.Client(t, "d")
	missing, junk := tlstest.BadFiles(t)

	_, err := LoadRoots(missing)
	assert.EqualError(t, err, `reading "`+missing+`": no such file or directory`)
	_, err = LoadRoots(junk)
	assert.EqualError(t, err, `"`+junk+`" holds no PEM certificate`)
	_, err = LoadRoots(pair.KeyFile)
	assert.EqualError(t, err, `"`+pair.KeyFile+`" holds no PEM certificate`, "a key is no CA")

	_, err = LoadCertificate(missing, pair.KeyFile, nil)
	assert.EqualError(t, err, `reading "`+missing+`": no such file or directory`)
	_, err = LoadCertificate(pair.CertFile, junk, nil)
	assert.ErrorContains(t, err, `loading the certificate "`+pair.CertFile+`" with the key "`+junk+`": tls: failed to find any PEM data in key input`)
	_, err = LoadCertificate(pair.CertFile, other.KeyFile, nil)
	assert.ErrorContains(t, err, "private key does not match public key")
}

// A certificate rotated on disk is presented from the next handshake on;
// a broken pair keeps the previous one and is reported.
func TestCertificateReloadsWhenItsFilesChange(t *testing.T) {
	ca := tlstest.NewCA(t, "test CA")
	srv := mtlsServer(t, ca)
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	installs := 0
	install := func(p tlstest.Pair, only ...string) {
		t.Helper()
		installs++
		for _, f := range [][2]string{{p.CertFile, certFile}, {p.KeyFile, keyFile}} {
			if len(only) > 0 && only[0] != f[1] {
				continue
			}
			b, err := os.ReadFile(f[0])
			require.NoError(t, err)
			// A new file renamed into place, as rotation tools do, with a
			// modification time that differs from the last one's even on a
			// file system with whole-second times.
			tmp := f[1] + ".tmp"
			require.NoError(t, os.WriteFile(tmp, b, 0o600))
			mod := time.Now().Add(time.Duration(installs) * time.Minute)
			require.NoError(t, os.Chtimes(tmp, mod, mod))
			require.NoError(t, os.Rename(tmp, f[1]))
		}
	}
	install(ca.Client(t, "first"))

	var mu sync.Mutex
	var reloadErrs []error
	cert, err := LoadCertificate(certFile, keyFile, func(err error) {
		mu.Lock()
		defer mu.Unlock()
		reloadErrs = append(reloadErrs, err)
	})
	require.NoError(t, err)
	roots, err := LoadRoots(ca.CertFile)
	require.NoError(t, err)
	conf := New(Options{RootCAs: roots, Certificate: cert})

	got, err := get(t, srv.URL, conf)
	require.NoError(t, err)
	assert.Equal(t, "first", got)

	second := ca.Client(t, "second")
	install(second, certFile) // the certificate first, its key not yet
	got, err = get(t, srv.URL, conf)
	require.NoError(t, err)
	assert.Equal(t, "first", got, "a half-rotated pair keeps the previous one")
	mu.Lock()
	require.Len(t, reloadErrs, 1)
	assert.ErrorContains(t, reloadErrs[0], "private key does not match public key")
	mu.Unlock()

	install(second, keyFile)
	got, err = get(t, srv.URL, conf)
	require.NoError(t, err)
	assert.Equal(t, "second", got, "the rotated pair is presented without a restart")
}
