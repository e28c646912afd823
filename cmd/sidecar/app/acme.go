package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/caddyserver/certmagic"
	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/applog"
	"github.com/sidecarproxy/sidecar/internal/logbridge"
)

// acmeTLSALPN is the ALPN protocol of the TLS-ALPN-01 challenge (RFC 8737):
// the TLS listener must offer it for the CA's handshake to reach
// certmagic's GetCertificate.
const acmeTLSALPN = "acme-tls/1"

// acmeCerts is certmagic, built from tls.acme: the certificates of
// tls.acme.domains, obtained and renewed in the background, served by
// GetCertificate, with the HTTP-01 handler for the plain-HTTP listener.
//
// It is built with its own certmagic.Cache and certmagic.New, never
// certmagic.Default, and it changes none of certmagic's package-level
// defaults. Its goroutines (certmagic's cache maintenance, and the
// obtain and renew jobs start begins) end at close: close cancels their
// context and stops the cache, waiting for its maintenance goroutine.
// certmagic gives no way to wait for a cancelled obtain job, which ends at
// its next network call or retry wait.
type acmeCerts struct {
	magic   *certmagic.Config
	issuer  *certmagic.ACMEIssuer
	cache   *certmagic.Cache
	domains []string
	ctx     context.Context
	cancel  context.CancelFunc
	log     zerolog.Logger
}

// newACMECerts builds certmagic for c.TLS.ACME, keeping certificates and
// the ACME account in storage, or, when storage is nil, in a
// certmagic.FileStorage at tls.acme.storage (created, mode 0700, unless
// preflight). Storage is the seam for a shared storage (Redis) that lets a
// fleet order each certificate once. It reads tls.acme.ca_root and
// contacts nobody: certificates are managed from start on.
func newACMECerts(c *config.Config, storage certmagic.Storage, log zerolog.Logger, level *applog.Filter, preflight bool) (*acmeCerts, error) {
	a := c.TLS.ACME
	roots, err := acmeRoots(a.CARoot)
	if err != nil {
		return nil, err
	}
	if storage == nil {
		if storage, err = fileStorage(a.Storage, preflight); err != nil {
			return nil, err
		}
	}
	log = log.With().Str("log", "acme").Logger()
	zl := logbridge.NewZap(log, level)

	ac := &acmeCerts{domains: a.Domains, log: log}
	ac.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return ac.magic, nil },
		Logger:           zl,
	})
	ac.magic = certmagic.New(ac.cache, certmagic.Config{Storage: storage, Logger: zl})
	ca := a.CA
	if ca == "" {
		ca = certmagic.LetsEncryptProductionCA
	}
	httpPort, alpnPort := c.ACMEPorts()
	ac.issuer = certmagic.NewACMEIssuer(ac.magic, certmagic.ACMEIssuer{
		CA:     ca,
		Email:  a.Email,
		Agreed: true, // configuring a CA is accepting its terms; nobody is at a prompt
		// certmagic opens a listener on these ports while a challenge runs
		// only if nothing listens there already; Sidecar's listeners do.
		DisableHTTPChallenge:    !a.Offers(config.ChallengeHTTP01),
		DisableTLSALPNChallenge: !a.Offers(config.ChallengeTLSALPN01),
		AltHTTPPort:             httpPort,
		AltTLSALPNPort:          alpnPort,
		TrustedRoots:            roots,
		Logger:                  zl,
	})
	ac.magic.Issuers = []certmagic.Issuer{ac.issuer}
	ac.ctx, ac.cancel = context.WithCancel(context.Background())
	return ac, nil
}

// start manages the domains' certificates in the background: loads them
// from storage, or obtains them from the CA, and renews them. Handshakes
// for a domain without a certificate yet fail (the client sees a TLS
// alert) until it is there; a CA that cannot be reached is retried with
// backoff and logged. Call it once the listeners are open, so that the
// challenges find them there.
func (a *acmeCerts) start() {
	if err := a.magic.ManageAsync(a.ctx, a.domains); err != nil {
		a.log.Error().Err(err).Msg("managing certificates")
		return
	}
	a.log.Info().Strs("domains", a.domains).Msg("managing certificates")
}

// close ends certificate management; see acmeCerts.
func (a *acmeCerts) close() error {
	a.cancel()
	a.cache.Stop()
	return nil
}

// acmeRoots is the system's root pool plus the certificates of the PEM
// file caRoot, to verify the CA's directory; nil (the system's roots) for
// "".
func acmeRoots(caRoot string) (*x509.CertPool, error) {
	if caRoot == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(caRoot)
	if err != nil {
		return nil, fmt.Errorf("tls.acme.ca_root: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool() // no system roots here: the file's alone
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls.acme.ca_root: no PEM certificate in %s", caRoot)
	}
	return pool, nil
}

// fileStorage is a certmagic.FileStorage at dir, which serve creates
// (mode 0700: it holds private keys) and check only inspects.
func fileStorage(dir string, preflight bool) (certmagic.Storage, error) {
	if preflight {
		fi, err := os.Stat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("tls.acme.storage: %w", err)
		case !fi.IsDir():
			return nil, fmt.Errorf("tls.acme.storage: %s is not a directory", dir)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("tls.acme.storage: %w", err)
	}
	return &certmagic.FileStorage{Path: dir}, nil
}
