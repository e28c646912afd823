package sessions

import (
	"errors"
	"fmt"

	"github.com/golang-jwt/jwt/v5"
)

// ParseHeader verifies a session header JWT as an app should: the
// algorithm pinned, the signature, exp (required), iss and aud. Under
// HS256 only HS256 with the secret verifies. Under EdDSA and ES256 the
// token's kid must name one of HeaderOptions.Keys, and its alg must be
// that key's (EdDSA for Ed25519, ES256 for P-256): every published key
// verifies, as the apps' JWKS verification does, and neither HS256 nor a
// key of another type is ever accepted. It is what Go apps and Sidecar's
// own tests use; apps in other languages do the same checks with the kits
// (clients/) or their JWT library.
func (h *HeaderSigner) ParseHeader(token string) (*Claims, error) {
	var c Claims
	methods := []string{string(HS256)}
	keyfunc := func(*jwt.Token) (any, error) { return h.opts.Secret, nil }
	if h.opts.Algorithm != HS256 {
		methods = []string{string(EdDSA), string(ES256)}
		keyfunc = h.publicKey
	}
	_, err := jwt.ParseWithClaims(token, &c, keyfunc,
		jwt.WithValidMethods(methods),
		jwt.WithExpirationRequired(),
		jwt.WithIssuer(h.opts.Issuer),
		jwt.WithAudience(h.opts.Audience),
		jwt.WithTimeFunc(h.opts.Clock),
	)
	if err != nil {
		return nil, fmt.Errorf("verifying session header: %w", err)
	}
	return &c, nil
}

// errUnknownKid: the token's kid names none of the keys, or one of
// another type than its alg.
var errUnknownKid = errors.New("sessions: unknown kid")

// publicKey is the verification key of t: the key its kid names, if that
// key signs with t's alg.
func (h *HeaderSigner) publicKey(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	for i := range h.keys {
		if k := &h.keys[i]; k.kid == kid && string(k.alg) == t.Method.Alg() {
			return k.public, nil
		}
	}
	return nil, errUnknownKid
}
