// Package keygen makes fresh secrets for Sidecar's keys and tokens (`sidecar
// keygen`): 256 bits from crypto/rand each, written as 43 base64url
// characters without padding, past the 32 bytes that the cookie and
// header secrets need and the 16 of the bearer tokens. The alphabet has no
// ',' (a list separator in the environment), no quote and no space, so a
// value pastes anywhere unquoted.
//
// NewKey makes the other kind of key: a private key for headers.key_files
// (EdDSA or ES256 session headers), as PKCS#8 PEM.
//
// It knows no configuration: cmd/sidecar/config writes a Set as config
// keys or environment variables.
package keygen

import (
	"crypto/rand"
	"encoding/base64"
)

// Bytes is the entropy of every secret New returns.
const Bytes = 32

// New returns Bytes from crypto/rand in base64url without padding.
func New() string {
	b := make([]byte, Bytes)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b)
}

// Set is one fresh secret for each of Sidecar's keys and tokens, each
// drawn on its own (so distinct, as the config's validation requires).
type Set struct {
	Cookie      string // session.secrets: the cookie HMAC key
	Header      string // headers.secret: the session header's HS256 key
	Admin       string // admin.token: the admin API's bearer token
	LockService string // lock_service.token: the lock service's bearer token
}

// NewSet returns a Set of fresh secrets.
func NewSet() Set {
	return Set{Cookie: New(), Header: New(), Admin: New(), LockService: New()}
}
