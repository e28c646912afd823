package app

import (
	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
)

// proxyKeys builds the cookie signer (session.secrets, the first signs)
// and the session header signer (headers.secret and the other headers.*
// keys) of c: at start, and again on every reload, so that rotating either
// secret takes a SIGHUP, not a restart (Main.Reload, proxy.Proxy.SetKeys).
func proxyKeys(c *config.Config) (proxy.Keys, error) {
	cookie, err := sessions.NewSigner(c.Session.SecretBytes())
	if err != nil {
		return proxy.Keys{}, err
	}
	header, err := sessions.NewHeaderSigner(c.Headers.HeaderOptions())
	if err != nil {
		return proxy.Keys{}, err
	}
	return proxy.Keys{Cookie: cookie, Header: header}, nil
}
