package server

import (
	"context"
	"crypto/tls"
	"fmt"
)

// tlsConfig returns the client-facing TLS configuration, or nil for plain
// HTTP.
func (m *Main) tlsConfig(ctx context.Context) (*tls.Config, error) {
	c := m.cfg.TLS
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
		return m.acmeConfig(ctx)
	}
	return nil, nil
}

// acmeConfig is where certmagic will obtain certificates; until that lands
// an ACME config is refused at startup with a message naming the key, so
// nobody believes they are serving TLS when they are not.
func (m *Main) acmeConfig(context.Context) (*tls.Config, error) {
	return nil, fmt.Errorf("tls.acme: ACME is not available in this version; use tls.cert_file and tls.key_file")
}
