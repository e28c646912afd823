package config

import (
	"crypto/tls"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// acmeOn turns ACME on with the listeners on known ports.
func acmeOn(c *Config) {
	c.Listen = "0.0.0.0:443"
	c.TLS.ACME.Domains = []string{"app.example.com"}
}

func staticOn(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = "c.pem", "k.pem" }

func TestValidateTLSRules(t *testing.T) {
	checkRules(t, []ruleCase{
		{"min version", func(c *Config) { c.TLS.MinVersion = "1.1" }, "tls.min_version", `tls.min_version: "1.1" is not one of 1.2, 1.3`},
		{"http listen without TLS", func(c *Config) { c.TLS.HTTPListen = ":80" }, "tls.http_listen",
			"tls.http_listen: redirects to HTTPS: it needs tls.cert_file or tls.acme.domains"},
		{"http listen not host:port", func(c *Config) { staticOn(c); c.TLS.HTTPListen = "80" }, "tls.http_listen", `tls.http_listen: "80" is not host:port`},
		{"redirect port unknown", func(c *Config) { staticOn(c); c.Listen = "127.0.0.1:0"; c.TLS.HTTPListen = ":80" }, "tls.https_port",
			"tls.https_port: is required with tls.http_listen when listen's port is 0"},
		{"https port range", func(c *Config) { c.TLS.HTTPSPort = 70000 }, "tls.https_port", "tls.https_port: must be a port from 0 to 65535 (got 70000)"},
		{"hsts negative", func(c *Config) { staticOn(c); c.TLS.HSTS = -time.Second }, "tls.hsts", "tls.hsts: must be 0 (off) or at least 1s (got -1s)"},
		{"hsts under a second", func(c *Config) { staticOn(c); c.TLS.HSTS = time.Millisecond }, "tls.hsts", "tls.hsts: must be 0 (off) or at least 1s"},
		{"hsts without TLS", func(c *Config) { c.TLS.HSTS = time.Hour }, "tls.hsts", "tls.hsts: is sent on HTTPS responses"},
		{"unknown challenge", func(c *Config) { acmeOn(c); c.TLS.ACME.Challenges = []ACMEChallenge{"dns-01"} }, "tls.acme.challenges[0]",
			`tls.acme.challenges[0]: "dns-01" is not one of http-01, tls-alpn-01`},
		{"challenge twice", func(c *Config) { acmeOn(c); c.TLS.ACME.Challenges = []ACMEChallenge{"http-01", "http-01"} }, "tls.acme.challenges[1]",
			`tls.acme.challenges[1]: "http-01" is listed twice`},
		{"no challenge", func(c *Config) { acmeOn(c); c.TLS.ACME.Challenges = []ACMEChallenge{} }, "tls.acme.challenges",
			"tls.acme.challenges: must name at least one of http-01, tls-alpn-01"},
		{"no storage", func(c *Config) { acmeOn(c); c.TLS.ACME.Storage = "" }, "tls.acme.storage", "tls.acme.storage: must not be empty"},
		{"challenge port range", func(c *Config) { c.TLS.ACME.TLSALPNPort = -1 }, "tls.acme.tls_alpn_port", "tls.acme.tls_alpn_port: must be a port"},
		{"acme on listen port 0", func(c *Config) { acmeOn(c); c.Listen = "127.0.0.1:0" }, "listen",
			"listen: port 0 cannot be used with tls.acme"},
		{"acme on http listen port 0", func(c *Config) { acmeOn(c); c.TLS.HTTPListen = ":0" }, "tls.http_listen",
			"tls.http_listen: port 0 cannot be used with tls.acme"},
		{"http port other than the http listener's", func(c *Config) { acmeOn(c); c.TLS.HTTPListen = ":8080"; c.TLS.ACME.HTTPPort = 80 }, "tls.acme.http_port",
			"tls.acme.http_port: must be 0 or the port of tls.http_listen (8080), which answers HTTP-01 challenges (got 80)"},
	})
}

func TestValidateTLSAccepts(t *testing.T) {
	for name, mutate := range map[string]func(c *Config){
		"static with redirect and HSTS": func(c *Config) {
			staticOn(c)
			c.TLS.HTTPListen, c.TLS.HSTS, c.TLS.MinVersion = ":80", 365*24*time.Hour, TLS13
		},
		"static on port 0 with an explicit https port": func(c *Config) {
			staticOn(c)
			c.Listen, c.TLS.HTTPListen, c.TLS.HTTPSPort = "127.0.0.1:0", "127.0.0.1:0", 8443
		},
		"acme, defaults":     acmeOn,
		"acme with redirect": func(c *Config) { acmeOn(c); c.TLS.HTTPListen = ":80"; c.TLS.ACME.HTTPPort = 80 },
		"acme, tls-alpn-01 only, http listen on port 0": func(c *Config) {
			acmeOn(c)
			c.TLS.HTTPListen, c.TLS.HTTPSPort = ":0", 443
			c.TLS.ACME.Challenges = []ACMEChallenge{ChallengeTLSALPN01}
		},
		"challenge keys ignored while ACME is off": func(c *Config) { c.TLS.ACME.Challenges = nil; c.TLS.ACME.Storage = "" },
	} {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			mutate(&c)
			assert.NoError(t, c.Validate())
		})
	}
}

func TestTLSPorts(t *testing.T) {
	c := validConfig()
	c.Listen = "0.0.0.0:8443"
	assert.Equal(t, 8443, c.RedirectPort(), "the port of listen")
	c.TLS.HTTPSPort = 443
	assert.Equal(t, 443, c.RedirectPort(), "tls.https_port")

	h, a := c.ACMEPorts()
	assert.Equal(t, []int{80, 8443}, []int{h, a}, "no http listener: 80, and the port of listen")
	c.TLS.HTTPListen = ":8080"
	h, _ = c.ACMEPorts()
	assert.Equal(t, 8080, h, "the port of the http listener")
	c.TLS.ACME.HTTPPort, c.TLS.ACME.TLSALPNPort = 5002, 5001
	h, a = c.ACMEPorts()
	assert.Equal(t, []int{5002, 5001}, []int{h, a}, "the keys win")

	assert.Equal(t, uint16(tls.VersionTLS12), TLS12.TLS())
	assert.Equal(t, uint16(tls.VersionTLS13), TLS13.TLS())
}

// TestWarningsACMEPorts: check says where the CA's challenge connections
// must reach, and is silent when the listeners are on 80 and 443.
func TestWarningsACMEPorts(t *testing.T) {
	c := validConfig()
	acmeOn(&c)
	c.TLS.HTTPListen = ":80"
	assert.Empty(t, c.Warnings(), "HTTP-01 on 80, TLS-ALPN-01 on 443")

	c.TLS.HTTPListen = ""
	w := c.Warnings()
	require.Len(t, w, 1)
	assert.Contains(t, w[0], "HTTP-01 is on and tls.http_listen is off: Sidecar listens on port 80 only while a challenge runs")

	c.TLS.HTTPListen, c.Listen = ":8080", ":8443"
	w = c.Warnings()
	require.Len(t, w, 2)
	assert.Contains(t, w[0], "HTTP-01 is answered on port 8080 (tls.http_listen), but the CA connects to port 80")
	assert.Contains(t, w[1], "TLS-ALPN-01 is answered on port 8443, but the CA connects to port 443")

	c.TLS.ACME.Challenges = []ACMEChallenge{ChallengeHTTP01}
	assert.Len(t, c.Warnings(), 1, "only the challenges offered")
}
