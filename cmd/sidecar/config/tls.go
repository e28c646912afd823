package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"
)

// The keys of the client-facing TLS (tls): the minimum version, the
// plain-HTTP listener, HSTS, and the ACME challenges and their ports. The
// certificate keys themselves (tls.cert_file, tls.key_file, tls.acme's
// domains, email, ca) are checked in validate.go. Every key takes a
// restart (see [Config.Reload]).

// TLSVersion is the oldest TLS version accepted (tls.min_version), written
// "1.2" or "1.3" (quoted in YAML: unquoted, 1.2 is a number).
type TLSVersion string

// The TLS versions.
const (
	TLS12 TLSVersion = "1.2" // the default
	TLS13 TLSVersion = "1.3"
)

// Validate reports whether v is one of the TLS versions.
func (v TLSVersion) Validate() error { return oneOf(v, TLS12, TLS13) }

// TLS returns the crypto/tls value of v (tls.VersionTLS12 for an invalid
// value).
func (v TLSVersion) TLS() uint16 {
	if v == TLS13 {
		return tls.VersionTLS13
	}
	return tls.VersionTLS12
}

// ACMEChallenge is an ACME challenge type (tls.acme.challenges).
type ACMEChallenge string

// The challenge types Sidecar answers.
const (
	// ChallengeHTTP01 is answered over plain HTTP, on tls.http_listen or a
	// listener opened for the challenge; the CA connects to port 80.
	ChallengeHTTP01 ACMEChallenge = "http-01"
	// ChallengeTLSALPN01 is answered in the TLS handshake on listen; the
	// CA connects to port 443.
	ChallengeTLSALPN01 ACMEChallenge = "tls-alpn-01"
)

// Validate reports whether c is one of the challenge types.
func (c ACMEChallenge) Validate() error { return oneOf(c, ChallengeHTTP01, ChallengeTLSALPN01) }

// Enabled reports whether TLS is on: a static certificate or ACME.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" || t.ACME.Enabled() }

// Offers reports whether challenge is one of a.Challenges.
func (a ACMEConfig) Offers(challenge ACMEChallenge) bool {
	return slices.Contains(a.Challenges, challenge)
}

// RedirectPort is the HTTPS port the redirects of tls.http_listen name:
// tls.https_port, or the port of listen. It is 0 only for a listen on
// port 0, which validation refuses together with tls.http_listen unless
// tls.https_port is set.
func (c Config) RedirectPort() int {
	if c.TLS.HTTPSPort != 0 {
		return c.TLS.HTTPSPort
	}
	return portOf(c.Listen)
}

// ACMEPorts returns the local ports on which the HTTP-01 and TLS-ALPN-01
// challenges are answered: tls.acme.http_port, else the port of
// tls.http_listen, else 80; tls.acme.tls_alpn_port, else the port of
// listen.
func (c Config) ACMEPorts() (httpPort, tlsALPNPort int) {
	a := c.TLS.ACME
	switch {
	case a.HTTPPort != 0:
		httpPort = a.HTTPPort
	case c.TLS.HTTPListen != "":
		httpPort = portOf(c.TLS.HTTPListen)
	default:
		httpPort = 80
	}
	tlsALPNPort = a.TLSALPNPort
	if tlsALPNPort == 0 {
		tlsALPNPort = portOf(c.Listen)
	}
	return httpPort, tlsALPNPort
}

// portOf is the port of a validated host:port, or 0.
func portOf(addr string) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(port)
	return n
}

// validateTLS checks the tls section and its rules with listen.
func (c Config) validateTLS(p *problems) {
	t := c.TLS
	t.validate(p)
	p.check("tls.min_version", t.MinVersion.Validate())
	checkPort(p, "tls.https_port", t.HTTPSPort)
	if t.HTTPListen != "" {
		if err := checkHostPort(t.HTTPListen); err != nil {
			p.add("tls.http_listen", "%v", err)
		}
		switch {
		case !t.Enabled():
			p.add("tls.http_listen", "redirects to HTTPS: it needs tls.cert_file or tls.acme.domains")
		case c.RedirectPort() == 0:
			p.add("tls.https_port", "is required with tls.http_listen when listen's port is 0: the redirects must name a port")
		}
	}
	switch {
	case t.HSTS < 0 || t.HSTS > 0 && t.HSTS < time.Second:
		p.add("tls.hsts", "must be 0 (off) or at least 1s (got %v)", t.HSTS)
	case t.HSTS > 0 && !t.Enabled():
		p.add("tls.hsts", "is sent on HTTPS responses: it needs tls.cert_file or tls.acme.domains")
	}
	c.validateACMEChallenges(p)
}

// validateACMEChallenges checks tls.acme.challenges and their ports.
func (c Config) validateACMEChallenges(p *problems) {
	a := c.TLS.ACME
	for i, ch := range a.Challenges {
		p.check(fmt.Sprintf("tls.acme.challenges[%d]", i), ch.Validate())
		if slices.Index(a.Challenges, ch) != i {
			p.add(fmt.Sprintf("tls.acme.challenges[%d]", i), "%q is listed twice", ch)
		}
	}
	checkPort(p, "tls.acme.http_port", a.HTTPPort)
	checkPort(p, "tls.acme.tls_alpn_port", a.TLSALPNPort)
	if !a.Enabled() {
		return
	}
	if len(a.Challenges) == 0 {
		p.add("tls.acme.challenges", "must name at least one of %s, %s", ChallengeHTTP01, ChallengeTLSALPN01)
	}
	if a.Storage == "" {
		p.add("tls.acme.storage", "must not be empty")
	}
	// The CA connects to known ports; port 0 is only for tests.
	if portOf(c.Listen) == 0 {
		p.add("listen", "port 0 cannot be used with tls.acme: the CA must reach a known port")
	}
	if a.Offers(ChallengeHTTP01) && c.TLS.HTTPListen != "" {
		switch lp := portOf(c.TLS.HTTPListen); {
		case lp == 0:
			p.add("tls.http_listen", "port 0 cannot be used with tls.acme: the CA must reach a known port")
		case a.HTTPPort != 0 && a.HTTPPort != lp:
			p.add("tls.acme.http_port", "must be 0 or the port of tls.http_listen (%d), which answers HTTP-01 challenges (got %d)", lp, a.HTTPPort)
		}
	}
}

// checkPort records a problem when port is not 0 to 65535.
func checkPort(p *problems, key string, port int) {
	if port < 0 || port > 65535 {
		p.add(key, "must be a port from 0 to 65535 (got %d)", port)
	}
}

// tlsWarnings says where the CA's challenge connections must be able to
// reach: port 80 for HTTP-01, port 443 for TLS-ALPN-01.
func (c Config) tlsWarnings() []string {
	a := c.TLS.ACME
	if !a.Enabled() {
		return nil
	}
	var out []string
	httpPort, alpnPort := c.ACMEPorts()
	if a.Offers(ChallengeHTTP01) {
		switch {
		case c.TLS.HTTPListen == "":
			out = append(out, fmt.Sprintf("tls.acme: HTTP-01 is on and tls.http_listen is off: Sidecar listens on port %d only while a challenge runs "+
				"(the port must then be free, and below 1024 Sidecar needs the privilege to bind it), and the CA must reach port 80 of every domain there; "+
				"set tls.http_listen (it also redirects to HTTPS), or remove http-01 from tls.acme.challenges", httpPort))
		case httpPort != 80:
			out = append(out, fmt.Sprintf("tls.acme: HTTP-01 is answered on port %d (tls.http_listen), but the CA connects to port 80: "+
				"forward port 80 of every domain to it, or remove http-01 from tls.acme.challenges", httpPort))
		}
	}
	if a.Offers(ChallengeTLSALPN01) && alpnPort != 443 {
		out = append(out, fmt.Sprintf("tls.acme: TLS-ALPN-01 is answered on port %d, but the CA connects to port 443: "+
			"forward port 443 of every domain to it, or remove tls-alpn-01 from tls.acme.challenges", alpnPort))
	}
	return out
}
