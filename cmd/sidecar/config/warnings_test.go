package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestWarningsSessionSize(t *testing.T) {
	c := Default()
	assert.Empty(t, c.Warnings(), "the defaults fit each other")

	c.Session.MaxBytes = 8192
	w := c.Warnings()
	if assert.Len(t, w, 1) {
		assert.Equal(t, "session.max_bytes (8192) cannot fit headers.max_bytes (4096): a session of 8192 bytes makes a session header of 11369 bytes, "+
			"so writes are refused (502) once a session nears 2737 bytes (less with a principal or many attributes); "+
			"lower session.max_bytes to about 2052, or raise headers.max_bytes to at least 11369 together with the app server's request header limits", w[0])
	}
	c.Headers.MaxBytes = 11369
	assert.Empty(t, c.Warnings())
}

func TestWarningsTrustEveryone(t *testing.T) {
	c := Default()
	c.Server.TrustedProxies = TrustedProxies{"10.0.0.0/8", "::1"}
	assert.Empty(t, c.Warnings(), "load balancers only")
	for _, all := range []string{"0.0.0.0/0", "::/0"} {
		c.Server.TrustedProxies = TrustedProxies{"10.0.0.0/8", all}
		w := c.Warnings()
		if assert.Len(t, w, 1, all) {
			assert.Contains(t, w[0], "server.trusted_proxies contains "+all+", which trusts every client")
		}
	}
}
