// Package httpauth authenticates requests to Sidecar's own HTTP APIs, the
// admin API (package admin) and the lock service (package lockservice),
// with a bearer token: "Authorization: Bearer <token>", or for a page a
// browser shows, the token as the password of HTTP Basic authentication.
//
// Bearer is the constant-time token check. Guard wraps it for an API: it
// counts failed attempts per client address, answers 429 with Retry-After
// to an address past Limits.MaxFailures, and rate-limits the log lines a
// storm of failures writes.
package httpauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// Bearer is an expected bearer token, kept only as its SHA-256 digest.
// The zero value accepts nothing useful: build one with NewBearer. A
// Bearer is immutable and safe for concurrent use.
type Bearer struct {
	digest [sha256.Size]byte
}

// NewBearer returns the Bearer that accepts token.
func NewBearer(token []byte) Bearer { return Bearer{digest: sha256.Sum256(token)} }

// Allows reports whether r carries "Authorization: Bearer <token>". The
// scheme is case-insensitive (RFC 7235) and spaces around the token are
// ignored; the token is compared in constant time over digests, so
// neither its bytes nor its length leak.
func (b Bearer) Allows(r *http.Request) bool {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return b.matches(strings.TrimSpace(token))
}

// AllowsBasic reports whether r carries HTTP Basic credentials whose
// password is the token, whatever the user name (what a browser sends for
// a page behind the token). The password is compared as Allows compares
// a bearer token.
func (b Bearer) AllowsBasic(r *http.Request) bool {
	_, password, ok := r.BasicAuth()
	return ok && b.matches(password)
}

// matches compares token with the expected one, in constant time over
// their digests.
func (b Bearer) matches(token string) bool {
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(got[:], b.digest[:]) == 1
}
