package app

import (
	"crypto/tls"
	"fmt"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

// tlsConfig returns the client-facing TLS configuration, or nil for plain
// HTTP. It loads (and so checks) the certificate files.
func tlsConfig(c config.TLSConfig) (*tls.Config, error) {
	switch {
	case c.CertFile != "":
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		return &tls.Config{
			Certificates: []tls.Certificate{cert},
			MinVersion:   tls.VersionTLS12,
			NextProtos:   []string{"h2", "http/1.1"},
		}, nil
	case c.ACME.Enabled():
		// certmagic comes with the TLS work; until then an ACME config is
		// refused, so nobody believes they are serving TLS when they are
		// not.
		return nil, fmt.Errorf("tls.acme: ACME is not available in this version; use tls.cert_file and tls.key_file")
	}
	return nil, nil
}
