package tlsedge

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"

	"github.com/caddyserver/certmagic"
	"github.com/rs/zerolog"
	"go.uber.org/zap"
)

// ACMETLSALPN is the ALPN protocol of the TLS-ALPN-01 challenge (RFC
// 8737): the TLS listener must offer it for the CA's handshake to reach
// [ACME.GetCertificate].
const ACMETLSALPN = "acme-tls/1"

// ACMEOptions configure [NewACME]. Domains and Storage are required; every
// other zero value is a stated default.
type ACMEOptions struct {
	// Domains are the names whose certificates are managed.
	Domains []string
	// CA is the ACME directory's URL; "" means Let's Encrypt's production
	// CA (certmagic.LetsEncryptProductionCA).
	CA string
	// Email is the ACME account's contact address; "" registers none.
	Email string
	// Roots verify the CA's directory (LoadACMERoots); nil means the
	// system's roots.
	Roots *x509.CertPool
	// Storage keeps the certificates and the ACME account: a file storage
	// (ACMEFileStorage), or a shared one (package certstore, on Redis) that
	// lets a fleet order each certificate once.
	Storage certmagic.Storage
	// NoHTTP01 and NoTLSALPN01 turn the HTTP-01 and TLS-ALPN-01 challenges
	// off; by default both are offered.
	NoHTTP01, NoTLSALPN01 bool
	// HTTPPort and TLSALPNPort are the local ports the challenges are
	// answered on (when the CA's connections are forwarded from 80 and
	// 443); 0 means 80 and 443. Sidecar's listeners must be there:
	// certmagic opens a listener of its own on these ports while a
	// challenge runs only if nothing listens there already.
	HTTPPort, TLSALPNPort int
	// Logger receives ACME's own lines (which domains are managed, a
	// failure to start). The zero value discards them.
	Logger zerolog.Logger
	// Zap is the logger of certmagic (logbridge.NewZap writes it to
	// zerolog); nil discards its lines.
	Zap *zap.Logger
}

// ACME is certmagic for one set of domains: their certificates, obtained
// and renewed in the background from Start on, served by GetCertificate,
// with the HTTP-01 challenge handler for the plain-HTTP listener.
//
// It is built with its own certmagic.Cache and certmagic.New, never
// certmagic.Default, and changes none of certmagic's package-level
// defaults. Its goroutines (certmagic's cache maintenance, and the obtain
// and renew jobs Start begins) end at Close: Close cancels their context
// and stops the cache, waiting for its maintenance goroutine. certmagic
// gives no way to wait for a cancelled obtain job, which ends at its next
// network call or retry wait.
type ACME struct {
	magic   *certmagic.Config
	issuer  *certmagic.ACMEIssuer
	cache   *certmagic.Cache
	domains []string
	http01  bool
	alpn    bool
	ctx     context.Context
	cancel  context.CancelFunc
	log     zerolog.Logger
}

// NewACME builds certmagic for o. It contacts nobody (certificates are
// managed from Start on), so a configuration check can build it too. It
// fails only without Domains or Storage.
func NewACME(o ACMEOptions) (*ACME, error) {
	if len(o.Domains) == 0 {
		return nil, errors.New("tlsedge: ACME needs at least one domain")
	}
	if o.Storage == nil {
		return nil, errors.New("tlsedge: ACME needs a storage")
	}
	if o.Zap == nil {
		o.Zap = zap.NewNop() // certmagic's own default writes to standard error
	}
	ca := o.CA
	if ca == "" {
		ca = certmagic.LetsEncryptProductionCA
	}
	a := &ACME{domains: o.Domains, http01: !o.NoHTTP01, alpn: !o.NoTLSALPN01, log: o.Logger}
	a.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return a.magic, nil },
		Logger:           o.Zap,
	})
	a.magic = certmagic.New(a.cache, certmagic.Config{Storage: o.Storage, Logger: o.Zap})
	a.issuer = certmagic.NewACMEIssuer(a.magic, certmagic.ACMEIssuer{
		CA:                      ca,
		Email:                   o.Email,
		Agreed:                  true, // configuring a CA is accepting its terms; nobody is at a prompt
		DisableHTTPChallenge:    o.NoHTTP01,
		DisableTLSALPNChallenge: o.NoTLSALPN01,
		AltHTTPPort:             o.HTTPPort,
		AltTLSALPNPort:          o.TLSALPNPort,
		TrustedRoots:            o.Roots,
		Logger:                  o.Zap,
	})
	a.magic.Issuers = []certmagic.Issuer{a.issuer}
	a.ctx, a.cancel = context.WithCancel(context.Background())
	return a, nil
}

// Start manages the domains' certificates in the background: loads them
// from storage, or obtains them from the CA, and renews them. Handshakes
// for a domain without a certificate yet fail (the client sees a TLS
// alert) until it is there; a CA that cannot be reached is retried with
// backoff and logged. Call it once the listeners are open, so that the
// challenges find them there.
func (a *ACME) Start() {
	if err := a.magic.ManageAsync(a.ctx, a.domains); err != nil {
		a.log.Error().Err(err).Msg("managing certificates")
		return
	}
	a.log.Info().Strs("domains", a.domains).Msg("managing certificates")
}

// Close ends certificate management; see [ACME]. It returns nil.
func (a *ACME) Close() error {
	a.cancel()
	a.cache.Stop()
	return nil
}

// GetCertificate is the tls.Config hook serving the managed certificates,
// and the TLS-ALPN-01 challenge's.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return a.magic.GetCertificate(hello)
}

// NextProtos are the ALPN protocols the TLS listener must offer besides
// its own: ACMETLSALPN while TLS-ALPN-01 is on, else none.
func (a *ACME) NextProtos() []string {
	if !a.alpn {
		return nil
	}
	return []string{ACMETLSALPN}
}

// HTTPChallenge wraps next, the plain-HTTP listener's handler, to answer
// the HTTP-01 challenge's requests; next itself while HTTP-01 is off.
func (a *ACME) HTTPChallenge(next http.Handler) http.Handler {
	if !a.http01 {
		return next
	}
	return a.issuer.HTTPChallengeHandler(next)
}
