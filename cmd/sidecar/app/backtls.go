package app

import (
	"crypto/tls"
	"fmt"
	"os"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/tlsclient"
)

// backendTLS builds the TLS client configuration of the section at key
// (store.redis.tls, locks.redlock_tls or proxy.upstream_tls). It reads
// the CA bundle and the client certificate, so that `sidecar check`
// refuses a missing or unparsable file, naming its key. A client
// certificate that changes on disk later but does not load is logged,
// and the previous one stays in use.
func (m *Main) backendTLS(key string, c config.BackendTLSConfig) (*tls.Config, error) {
	o := tlsclient.Options{
		ServerName:         c.ServerName,
		MinVersion:         c.MinVersion.TLS(),
		InsecureSkipVerify: c.InsecureSkipVerify,
	}
	if c.CAFile != "" {
		roots, err := tlsclient.LoadRoots(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.ca_file: %w", key, err)
		}
		o.RootCAs = roots
	}
	if c.CertFile != "" {
		for _, f := range [][2]string{{key + ".cert_file", c.CertFile}, {key + ".key_file", c.KeyFile}} {
			if _, err := os.Stat(f[1]); err != nil {
				return nil, fmt.Errorf("%s: %w", f[0], err)
			}
		}
		log := m.log.With().Str("key", key).Logger()
		cert, err := tlsclient.LoadCertificate(c.CertFile, c.KeyFile, func(err error) {
			log.Warn().Err(err).Msg("the client certificate changed on disk but does not load; still presenting the previous one")
		})
		if err != nil {
			return nil, fmt.Errorf("%s.cert_file: %w", key, err)
		}
		o.Certificate = cert
	}
	return tlsclient.New(o), nil
}

// redisTLS is backendTLS for a Redis deployment, or nil when its
// addresses are not rediss:// (useTLS false).
func (m *Main) redisTLS(key string, useTLS bool, c config.BackendTLSConfig) (*tls.Config, error) {
	if !useTLS {
		return nil, nil
	}
	return m.backendTLS(key, c)
}
