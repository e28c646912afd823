package tlsedge_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/internal/tlstest"
	"github.com/sidecarproxy/sidecar/tlsedge"
)

// twoPairs issues two certificates for app.test, told apart by their
// serial numbers: the one served before a rotation and the one after.
func twoPairs(t *testing.T) (one, two tlstest.Pair) {
	t.Helper()
	ca := tlstest.NewCA(t, "tlsedge test CA")
	one, two = ca.Server(t, "app.test"), ca.Server(t, "app.test")
	require.NotEqual(t, one.Serial, two.Serial)
	return one, two
}

// replace writes data to a temporary file in dir and renames it over
// name, as a rotation does.
func replace(t *testing.T, name string, data []byte) {
	t.Helper()
	tmp := name + ".tmp"
	require.NoError(t, os.WriteFile(tmp, data, 0o600))
	require.NoError(t, os.Rename(tmp, name))
}

func served(t *testing.T, f *tlsedge.FileCertificate) int64 {
	t.Helper()
	c, err := f.GetCertificate(&tls.ClientHelloInfo{ServerName: "app.test"})
	require.NoError(t, err)
	require.NotNil(t, c)
	return c.Leaf.SerialNumber.Int64()
}

type fixture struct {
	dir, cert, key string
	clock          *clocktest.Clock
	log            *logtest.Buffer
	f              *tlsedge.FileCertificate
}

const interval = 5 * time.Second

func newFixture(t *testing.T, first tlstest.Pair) *fixture {
	t.Helper()
	dir := t.TempDir()
	x := &fixture{dir: dir, cert: filepath.Join(dir, "tls.crt"), key: filepath.Join(dir, "tls.key"),
		clock: clocktest.New(), log: &logtest.Buffer{}}
	require.NoError(t, os.WriteFile(x.cert, first.CertPEM, 0o600))
	require.NoError(t, os.WriteFile(x.key, first.KeyPEM, 0o600))
	f, err := tlsedge.NewFileCertificate(x.cert, x.key, tlsedge.FileOptions{
		CheckInterval: interval, Logger: zerolog.New(x.log), Now: x.clock.Now})
	require.NoError(t, err)
	x.f = f
	return x
}

func TestFileCertificateFollowsRotation(t *testing.T) {
	one, two := twoPairs(t)
	x := newFixture(t, one)
	require.Equal(t, one.Serial, served(t, x.f))

	replace(t, x.cert, two.CertPEM)
	replace(t, x.key, two.KeyPEM)
	assert.Equal(t, one.Serial, served(t, x.f), "not looked at before the interval")
	x.clock.Advance(interval)
	assert.Equal(t, two.Serial, served(t, x.f), "the handshake after the interval gets the new certificate")
	assert.Contains(t, x.log.String(), "certificate reloaded")
	assert.NotContains(t, x.log.String(), "PRIVATE KEY")
}

// TestFileCertificateKeepsOldOnHalfRotation: between the two renames of a
// rotation the certificate and key do not match; the old pair is served,
// one warning is logged, and the completed rotation is picked up.
func TestFileCertificateKeepsOldOnHalfRotation(t *testing.T) {
	one, two := twoPairs(t)
	x := newFixture(t, one)

	replace(t, x.cert, two.CertPEM) // the key is still one's
	changed, err := x.f.Reload()
	require.Error(t, err)
	assert.False(t, changed)
	assert.Equal(t, one.Serial, served(t, x.f))
	for range 3 { // the same half-written state: looked at, not retried, not re-logged
		x.clock.Advance(interval)
		assert.Equal(t, one.Serial, served(t, x.f))
	}
	assert.Equal(t, 1, x.log.Count("do not load"), x.log.String())
	assert.NotContains(t, x.log.String(), "PRIVATE KEY")

	replace(t, x.key, two.KeyPEM)
	x.clock.Advance(interval)
	assert.Equal(t, two.Serial, served(t, x.f))
}

func TestFileCertificateKeepsOldWhenFilesVanish(t *testing.T) {
	one := tlstest.NewCA(t, "tlsedge test CA").Server(t, "app.test")
	x := newFixture(t, one)
	require.NoError(t, os.Remove(x.key))
	_, err := x.f.Reload()
	require.Error(t, err)
	assert.Equal(t, one.Serial, served(t, x.f))

	replace(t, x.key, []byte("not PEM"))
	_, err = x.f.Reload()
	require.Error(t, err)
	assert.Equal(t, one.Serial, served(t, x.f))
}

// TestFileCertificateFollowsSymlinkSwap rotates the way Kubernetes updates
// a mounted Secret: tls.crt and tls.key are links through "..data", a link
// to a timestamped directory that is swapped atomically for a new one.
func TestFileCertificateFollowsSymlinkSwap(t *testing.T) {
	one, two := twoPairs(t)
	dir := t.TempDir()
	writeGen := func(name string, p tlstest.Pair) {
		gen := filepath.Join(dir, name)
		require.NoError(t, os.Mkdir(gen, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(gen, "tls.crt"), p.CertPEM, 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(gen, "tls.key"), p.KeyPEM, 0o600))
	}
	writeGen("..gen1", one)
	require.NoError(t, os.Symlink("..gen1", filepath.Join(dir, "..data")))
	for _, n := range []string{"tls.crt", "tls.key"} {
		require.NoError(t, os.Symlink(filepath.Join("..data", n), filepath.Join(dir, n)))
	}
	clock := clocktest.New()
	f, err := tlsedge.NewFileCertificate(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"),
		tlsedge.FileOptions{Now: clock.Now})
	require.NoError(t, err)
	require.Equal(t, one.Serial, served(t, f))

	writeGen("..gen2", two)
	require.NoError(t, os.Symlink("..gen2", filepath.Join(dir, "..data_tmp")))
	require.NoError(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
	clock.Advance(tlsedge.DefaultCheckInterval)
	assert.Equal(t, two.Serial, served(t, f))
}

func TestFileCertificateFirstLoadMustSucceed(t *testing.T) {
	dir := t.TempDir()
	one, two := twoPairs(t)
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	_, err := tlsedge.NewFileCertificate(cert, key, tlsedge.FileOptions{})
	require.Error(t, err, "missing files")
	assert.Contains(t, err.Error(), cert)

	require.NoError(t, os.WriteFile(cert, one.CertPEM, 0o600))
	require.NoError(t, os.WriteFile(key, two.KeyPEM, 0o600))
	_, err = tlsedge.NewFileCertificate(cert, key, tlsedge.FileOptions{})
	require.Error(t, err, "a key that does not match")
	assert.NotContains(t, err.Error(), "PRIVATE KEY")
}

// TestFileCertificateConcurrentHandshakes runs handshakes while the files
// rotate (for the race detector): every handshake gets one of the two
// certificates, never nil.
func TestFileCertificateConcurrentHandshakes(t *testing.T) {
	one, two := twoPairs(t)
	x := newFixture(t, one)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { // exits after its handshakes
			defer wg.Done()
			for range 200 {
				c, err := x.f.GetCertificate(&tls.ClientHelloInfo{})
				if assert.NoError(t, err) && assert.NotNil(t, c) {
					s := c.Leaf.SerialNumber.Int64()
					assert.True(t, s == one.Serial || s == two.Serial, "serial %d", s)
				}
			}
		}()
	}
	replace(t, x.cert, two.CertPEM)
	replace(t, x.key, two.KeyPEM)
	x.clock.Advance(interval)
	wg.Wait()
	assert.Equal(t, two.Serial, served(t, x.f))
}
