package tlsedge_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/caddyserver/certmagic"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/tlstest"
	"github.com/sidecarproxy/sidecar/tlsedge"
)

func TestLoadACMERoots(t *testing.T) {
	ca := tlstest.NewCA(t, "private ACME CA")
	missing, junk := tlstest.BadFiles(t)

	pool, err := tlsedge.LoadACMERoots("")
	require.NoError(t, err)
	assert.Nil(t, pool, "the system's roots")

	pool, err = tlsedge.LoadACMERoots(ca.CertFile)
	require.NoError(t, err)
	block, _ := pem.Decode(ca.Server(t, "ca.test").CertPEM)
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "ca.test"})
	assert.NoError(t, err, "the file's CA is trusted")

	_, err = tlsedge.LoadACMERoots(missing)
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = tlsedge.LoadACMERoots(junk)
	assert.EqualError(t, err, "no PEM certificate in "+junk)
}

// TestACMEFileStorage: serve creates the directory, private; check only
// looks at it.
func TestACMEFileStorage(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "acme")
	_, err := tlsedge.ACMEFileStorage(dir, false)
	require.NoError(t, err, "a missing directory is fine: serve creates it")
	_, err = os.Stat(dir)
	assert.ErrorIs(t, err, os.ErrNotExist, "a check creates nothing")

	s, err := tlsedge.ACMEFileStorage(dir, true)
	require.NoError(t, err)
	assert.Equal(t, &certmagic.FileStorage{Path: dir}, s)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())

	file := filepath.Join(t.TempDir(), "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	for _, create := range []bool{false, true} {
		_, err := tlsedge.ACMEFileStorage(file, create)
		assert.Error(t, err, "a file where the directory goes (create %v)", create)
	}
}

func TestNewACMERefusesMissingParts(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	_, err := tlsedge.NewACME(tlsedge.ACMEOptions{Storage: storage})
	assert.EqualError(t, err, "tlsedge: ACME needs at least one domain")
	_, err = tlsedge.NewACME(tlsedge.ACMEOptions{Domains: []string{"app.test"}})
	assert.EqualError(t, err, "tlsedge: ACME needs a storage")
}

// TestACMEChallengesFollowTheOptions: the listener offers the TLS-ALPN-01
// protocol, and the plain-HTTP handler answers HTTP-01, only while each
// challenge is on; other requests reach the handler behind. Before Start
// no certificate is served.
func TestACMEChallengesFollowTheOptions(t *testing.T) {
	next := &teapot{}
	for _, tt := range []struct {
		name                  string
		noHTTP01, noTLSALPN01 bool
	}{
		{"both", false, false},
		{"HTTP-01 only", false, true},
		{"TLS-ALPN-01 only", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a, err := tlsedge.NewACME(tlsedge.ACMEOptions{
				Domains:     []string{"app.test"},
				CA:          "https://127.0.0.1:1/directory", // never contacted: no Start
				Storage:     &certmagic.FileStorage{Path: t.TempDir()},
				NoHTTP01:    tt.noHTTP01,
				NoTLSALPN01: tt.noTLSALPN01,
			})
			require.NoError(t, err)
			t.Cleanup(func() { assert.NoError(t, a.Close()) })

			if tt.noTLSALPN01 {
				assert.Empty(t, a.NextProtos())
			} else {
				assert.Equal(t, []string{tlsedge.ACMETLSALPN}, a.NextProtos())
			}
			h := a.HTTPChallenge(next)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://app.test/page", nil))
			assert.Equal(t, http.StatusTeapot, rec.Code, "not a challenge: the handler behind")
			if tt.noHTTP01 {
				assert.Same(t, next, h, "HTTP-01 off: nothing wraps the handler")
			}
			conn, peer := net.Pipe() // certmagic logs the client's address
			t.Cleanup(func() { _ = conn.Close(); _ = peer.Close() })
			_, err = a.GetCertificate(&tls.ClientHelloInfo{ServerName: "app.test", Conn: conn})
			assert.Error(t, err, "no certificate before Start obtained one")
		})
	}
}

// teapot is a handler that answers 418, comparable by pointer.
type teapot struct{}

func (*teapot) ServeHTTP(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }
