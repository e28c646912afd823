// Package tlstest is the one test certificate authority the tests share:
// a CA made fresh for each test, which issues server and client
// certificates into PEM files in t.TempDir(), for real TLS servers (a
// redis-server with --tls-port, an httptest server, pebble, Sidecar's
// own listener) and real clients.
//
// Every certificate a CA issues has its own serial number (Pair.Serial,
// also visible in the certificate a server presents), so a rotation test
// can tell the certificate served before a rotation from the one after.
// A Pair carries its PEM data as well as its files, for tests that lay the
// files out themselves (renamed over, behind symlinks, mismatched).
//
// Keys are ECDSA P-256, which every TLS stack the tests use (Go's,
// OpenSSL's in redis-server) accepts and which are quick to generate.
// Certificates are valid from an hour ago for a day, so clock skew
// between processes does not matter. Nothing here is for production:
// the keys are written unencrypted to the test's temporary directory.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a test certificate authority. Its methods fail the test on error;
// they are not safe for concurrent use.
type CA struct {
	// CertFile is the CA certificate, PEM: what a peer trusts (a ca_file).
	CertFile string

	name string
	dir  string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	n    int64 // certificates issued; the next serial number is n+2
}

// Pair is an issued certificate and its key, as PEM files and as the
// PEM data in them.
type Pair struct {
	CertFile string
	KeyFile  string
	CertPEM  []byte
	KeyPEM   []byte
	// Serial is the certificate's serial number, different for every
	// certificate of a CA (the CA's own is 1).
	Serial int64
}

// NewCA makes a self-signed CA named name (its subject's common name) and
// writes its certificate to a file in t.TempDir().
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("tlstest: creating CA %q: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("tlstest: parsing CA %q: %v", name, err)
	}
	ca := &CA{name: name, dir: t.TempDir(), cert: cert, key: key}
	ca.CertFile = ca.write(t, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return ca
}

// Server issues a server certificate for hosts (DNS names or IP
// addresses; the first is also its common name). It is also valid as a
// client certificate, as redis-server wants for the cluster bus.
func (ca *CA) Server(t testing.TB, hosts ...string) Pair {
	t.Helper()
	if len(hosts) == 0 {
		t.Fatalf("tlstest: Server needs at least one host")
	}
	tmpl := ca.template(hosts[0])
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.issue(t, tmpl)
}

// Client issues a client certificate whose subject's common name is cn.
func (ca *CA) Client(t testing.TB, cn string) Pair {
	t.Helper()
	tmpl := ca.template(cn)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return ca.issue(t, tmpl)
}

// Pool is a certificate pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// ClientConfig is a TLS client configuration that trusts only the CA and,
// when client is not the zero Pair, presents client's certificate.
func (ca *CA) ClientConfig(t testing.TB, client Pair) *tls.Config {
	t.Helper()
	c := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS12}
	if client.CertFile != "" {
		c.Certificates = []tls.Certificate{client.Load(t)}
	}
	return c
}

// Load reads the pair as a tls.Certificate.
func (p Pair) Load(t testing.TB) tls.Certificate {
	t.Helper()
	c, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		t.Fatalf("tlstest: loading %s: %v", p.CertFile, err)
	}
	return c
}

// NewServer starts an HTTPS server for h whose certificate, from ca,
// holds hosts, and which requires a client certificate from ca (mutual
// TLS). It offers HTTP/2 as well as HTTP/1.1, so a client that speaks
// HTTP/1.1 to it does so by its own choice. t.Cleanup closes it.
func (ca *CA) NewServer(t testing.TB, h http.Handler, hosts ...string) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{ca.Server(t, hosts...).Load(t)},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// template is the common part of an issued certificate, with the next
// serial number: 2 for the first, as the CA's own is 1.
func (ca *CA) template(cn string) *x509.Certificate {
	ca.n++
	return &x509.Certificate{
		SerialNumber: big.NewInt(ca.n + 1),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{ca.name}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
}

// issue signs tmpl with a new key and writes both to files.
func (ca *CA) issue(t testing.TB, tmpl *x509.Certificate) Pair {
	t.Helper()
	key := newKey(t)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("tlstest: issuing %q: %v", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("tlstest: encoding the key of %q: %v", tmpl.Subject.CommonName, err)
	}
	base := "cert" + tmpl.SerialNumber.String()
	p := Pair{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		Serial:  tmpl.SerialNumber.Int64(),
	}
	p.CertFile = ca.write(t, base+".pem", p.CertPEM)
	p.KeyFile = ca.write(t, base+"-key.pem", p.KeyPEM)
	return p
}

// write stores data in the CA's directory and returns its path.
func (ca *CA) write(t testing.TB, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(ca.dir, name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatalf("tlstest: writing %s: %v", path, err)
	}
	return path
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("tlstest: generating a key: %v", err)
	}
	return key
}

// BadFiles returns, for tests of loading errors, the path of a file that
// does not exist and of one that holds no PEM data, both in t.TempDir().
func BadFiles(t testing.TB) (missing, junk string) {
	t.Helper()
	dir := t.TempDir()
	missing, junk = filepath.Join(dir, "missing.pem"), filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatalf("tlstest: writing %s: %v", junk, err)
	}
	return missing, junk
}
