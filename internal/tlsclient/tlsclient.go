// Package tlsclient builds the TLS client configuration of Sidecar's
// connections to its back ends: Redis (the session store, Redlock
// masters) and HTTPS upstreams. It reads PEM files: a CA bundle to trust
// instead of the system's roots, and a client certificate that is read
// again when its files change, so that a certificate rotated on disk
// (cert-manager, Vault agent) is presented on the next new connection
// without a restart.
//
// It also dials within a context (DialContext) and tells a wrong TLS
// set-up from an unreachable server (IsSetupFault, IsPlainToTLS,
// IsUnanswered), for clients such as go-redis.
//
// It knows no configuration format; cmd/sidecar/app names the keys in
// errors.
package tlsclient

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// DefaultMinVersion is Options.MinVersion's default: TLS 1.2, which every
// managed Redis and HTTPS server in use today offers.
const DefaultMinVersion = tls.VersionTLS12

// Options say how to trust a server and what to present to it. The zero
// value trusts the system's roots, presents no certificate, verifies the
// host name dialled and offers TLS 1.2 and 1.3.
type Options struct {
	// RootCAs are the CAs a server's certificate must chain to, from
	// LoadRoots; nil means the system's roots.
	RootCAs *x509.CertPool
	// Certificate is presented when a server asks for a client
	// certificate, from LoadCertificate; nil presents none.
	Certificate *Certificate
	// ServerName is sent as SNI and is the name the server's certificate
	// must hold; "" means the host of the address dialled (for an IP
	// address no SNI is sent and the certificate must hold the IP).
	ServerName string
	// MinVersion is the lowest TLS version offered; 0 means
	// DefaultMinVersion (TLS 1.2).
	MinVersion uint16
	// InsecureSkipVerify accepts any server certificate. Anyone on the
	// network path can then read and change the traffic; it exists for a
	// lab, never for production.
	InsecureSkipVerify bool
}

// New returns the TLS configuration for o. Each use should Clone it, as
// net/http and go-redis do.
func New(o Options) *tls.Config {
	if o.MinVersion == 0 {
		o.MinVersion = DefaultMinVersion
	}
	c := &tls.Config{
		RootCAs:            o.RootCAs,
		ServerName:         o.ServerName,
		MinVersion:         o.MinVersion,
		InsecureSkipVerify: o.InsecureSkipVerify, //nolint:gosec // the operator's explicit, warned choice
	}
	if o.Certificate != nil {
		c.GetClientCertificate = o.Certificate.get
	}
	return c
}

// LoadRoots reads a PEM bundle of CA certificates. It fails when the file
// cannot be read or holds no certificate; the error names the file, never
// its contents.
func LoadRoots(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %q: %w", path, unwrapPath(err))
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%q holds no PEM certificate", path)
	}
	return pool, nil
}

// unwrapPath drops the *fs.PathError around err, whose message repeats
// the path.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
