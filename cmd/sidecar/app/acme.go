package app

import (
	"fmt"

	"github.com/caddyserver/certmagic"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/logbridge"
	"github.com/sidecarproxy/sidecar/tlsedge"
)

// newACME builds certmagic for tls.acme (tlsedge.ACME), keeping
// certificates and the ACME account in storage, or, when storage is nil,
// in a file storage at tls.acme.storage (created, mode 0700, unless
// preflight). It reads tls.acme.ca_root and contacts nobody: certificates
// are managed from Run on. certmagic logs to the log as "log":"acme", at
// the level log.level sets, reloads included.
func (m *Main) newACME(storage certmagic.Storage, preflight bool) (*tlsedge.ACME, error) {
	c := m.cfg
	a := c.TLS.ACME
	roots, err := tlsedge.LoadACMERoots(a.CARoot)
	if err != nil {
		return nil, fmt.Errorf("tls.acme.ca_root: %w", err)
	}
	if storage == nil {
		if storage, err = tlsedge.ACMEFileStorage(a.Storage, !preflight); err != nil {
			return nil, fmt.Errorf("tls.acme.storage: %w", err)
		}
	}
	log := m.log.With().Str("log", "acme").Logger()
	httpPort, alpnPort := c.ACMEPorts()
	acme, err := tlsedge.NewACME(tlsedge.ACMEOptions{
		Domains:     a.Domains,
		CA:          a.CA,
		Email:       a.Email,
		Roots:       roots,
		Storage:     storage,
		NoHTTP01:    !a.Offers(config.ChallengeHTTP01),
		NoTLSALPN01: !a.Offers(config.ChallengeTLSALPN01),
		HTTPPort:    httpPort,
		TLSALPNPort: alpnPort,
		Logger:      log,
		Zap:         logbridge.NewZap(log, m.level),
	})
	if err != nil {
		return nil, fmt.Errorf("tls.acme: %w", err)
	}
	m.onClose(acme.Close)
	return acme, nil
}
