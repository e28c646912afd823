// Package bearer checks "Authorization: Bearer <token>" for Sidecar's own
// HTTP APIs (the admin API and the lock service).
package bearer

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Token is an expected bearer token, kept only as its SHA-256 digest. The
// zero value accepts nothing useful: build one with New.
type Token struct {
	digest [sha256.Size]byte
}

// New returns the Token that accepts token.
func New(token []byte) Token { return Token{digest: sha256.Sum256(token)} }

// Allows reports whether r carries "Authorization: Bearer <token>". The
// scheme is case-insensitive (RFC 7235); the token is compared in constant
// time over digests, so neither its bytes nor its length leak.
func (t Token) Allows(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	return subtle.ConstantTimeCompare(got[:], t.digest[:]) == 1
}
