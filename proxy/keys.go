package proxy

import (
	"errors"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Keys are one generation of the secrets the proxy signs and verifies
// with: the session cookie's and the session header's. A request takes
// the generation current when it starts and uses it throughout: its
// cookie is verified, re-issued or newly signed, and its header signed,
// with the same Keys, however a rotation (SetKeys) races it.
type Keys struct {
	// Cookie signs new cookies with its first secret and verifies them
	// with all of them: to rotate, put the new secret first and keep the
	// old one after it, and cookies signed with the old one keep working
	// (and are re-issued under the new one when their session is next
	// used). Required.
	Cookie *sessions.Signer
	// Header signs the X-Sidecar-Session JWT. Its secret (HS256) replaces
	// the old one at once: the apps must accept both while the change
	// rolls out. Its keys (EdDSA, ES256) are published in the JWKS (JWKS):
	// a new first key signs at once while the old ones, kept after it,
	// still verify the headers they signed.
	// Its other options (issuer, audience, ttl, max bytes) should be those
	// of Options.Header, which the Manager's header budget was built with.
	// Required.
	Header *sessions.HeaderSigner
}

// SetKeys replaces the secrets for the requests that start from now on;
// requests in flight finish with the Keys they started with. It returns an
// error, and changes nothing, when a field is nil. The Keys of New are
// the Manager's Signer and Options.Header.
func (p *Proxy) SetKeys(k Keys) error {
	if k.Cookie == nil || k.Header == nil {
		return errors.New("proxy: Keys.Cookie and Keys.Header are required")
	}
	p.keys.Store(&k)
	return nil
}

// JWKS is the JWKS document of the current Keys' header signer (see
// sessions.HeaderSigner.JWKS): the public keys apps verify the session
// header with, which the ops listener serves; nil under HS256. After a
// SetKeys it is the new generation's.
func (p *Proxy) JWKS() []byte { return p.keys.Load().Header.JWKS() }
