package sessions

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"sync"
)

// TokenBytes is the number of random bytes in a session token.
const TokenBytes = 32

// b64 is strict: a value whose trailing bits are not zero is rejected, so
// one token has exactly one cookie spelling.
var b64 = base64.RawURLEncoding.Strict()

// encodedLen is the length of a base64url (no padding) token or MAC.
const encodedLen = 43 // base64url of 32 bytes without padding

// CookieLen is the exact length of a well-formed cookie value.
const CookieLen = 2*encodedLen + 1

// Token is a session's secret: 32 bytes from crypto/rand. It appears only in
// the browser's cookie; stores see Key(), apps see SID().
type Token [TokenBytes]byte

// NewToken returns a fresh random token.
func NewToken() (Token, error) {
	var t Token
	if _, err := rand.Read(t[:]); err != nil {
		return t, fmt.Errorf("reading random token: %w", err)
	}
	return t, nil
}

// Key is the store key derived from the token: hex(SHA-256(token)). It
// cannot be turned back into a cookie.
func (t Token) Key() string {
	sum := sha256.Sum256(t[:])
	var buf [2 * sha256.Size]byte
	hex.Encode(buf[:], sum[:])
	return string(buf[:])
}

// sidDomain separates the public handle's hash from the store key's hash.
const sidDomain = "sidecar sid v1\x00"

// SID is the public, non-secret handle apps see in the sid claim:
// the first 16 bytes of SHA-256("sidecar sid v1\0" || token), in hex. It
// differs from the store key and cannot be used as a cookie.
func (t Token) SID() string {
	var buf [2 * sidBytes]byte
	return string(t.appendSID(buf[:0]))
}

// sidBytes is the length of the SID before hex encoding.
const sidBytes = 16

// appendSID appends the SID to dst without allocating.
func (t Token) appendSID(dst []byte) []byte {
	var in [len(sidDomain) + TokenBytes]byte
	copy(in[copy(in[:], sidDomain):], t[:])
	sum := sha256.Sum256(in[:])
	return hex.AppendEncode(dst, sum[:sidBytes])
}

// ErrBadCookie means a cookie value is malformed or its MAC does not verify
// with any configured secret. Callers treat it as "no session".
var ErrBadCookie = errors.New("sessions: bad cookie")

// Signer signs and verifies cookie values "<token>.<mac>" with
// HMAC-SHA256. The first secret signs; every secret verifies, so secrets
// can be rotated by prepending a new one. Comparison is constant-time.
//
// Each secret keeps a pool of keyed HMAC states, reset (not rebuilt)
// between uses, so a check allocates nothing.
type Signer struct {
	macs []macPool // one per secret, in order
}

// macPool holds the HMAC-SHA256 states of one secret.
type macPool struct{ p sync.Pool }

// macState is one keyed HMAC with room for its input and output, so that
// neither escapes to the heap through the hash.Hash interface.
type macState struct {
	h   hash.Hash
	in  Token
	sum [sha256.Size]byte
}

// mac computes the MAC of tok into st.sum; st comes from mp and goes back
// to it with put.
func (mp *macPool) mac(tok *Token) *macState {
	st := mp.p.Get().(*macState)
	st.h.Reset()
	st.in = *tok
	st.h.Write(st.in[:])
	st.h.Sum(st.sum[:0])
	return st
}

func (mp *macPool) put(st *macState) {
	st.in = Token{} // no secret-derived bytes of a request outlive it
	mp.p.Put(st)
}

// NewSigner returns a Signer over secrets (first signs). It returns an
// error if there is none.
func NewSigner(secrets [][]byte) (*Signer, error) {
	if len(secrets) == 0 {
		return nil, errors.New("sessions: at least one cookie secret is required")
	}
	s := &Signer{macs: make([]macPool, len(secrets))}
	for i, secret := range secrets {
		if len(secret) == 0 {
			return nil, fmt.Errorf("sessions: cookie secret %d is empty", i)
		}
		secret = bytes.Clone(secret)
		s.macs[i].p.New = func() any { return &macState{h: hmac.New(sha256.New, secret)} }
	}
	return s, nil
}

// Sign returns the cookie value for t under the current (first) secret.
func (s *Signer) Sign(t Token) string {
	var buf [CookieLen]byte
	b64.Encode(buf[:encodedLen], t[:])
	buf[encodedLen] = '.'
	st := s.macs[0].mac(&t)
	b64.Encode(buf[encodedLen+1:], st.sum[:])
	s.macs[0].put(st)
	return string(buf[:])
}

// Verify parses a cookie value and checks its MAC against every secret. It
// returns the token and whether it verified only under an older secret (the
// caller should re-issue the cookie under the current one). A malformed
// value or a MAC no secret produces gives ErrBadCookie.
func (s *Signer) Verify(value string) (t Token, old bool, err error) {
	if len(value) != CookieLen || value[encodedLen] != '.' {
		return t, false, ErrBadCookie
	}
	if n, err := b64.Decode(t[:], []byte(value[:encodedLen])); err != nil || n != TokenBytes {
		return t, false, ErrBadCookie
	}
	var got [sha256.Size + 2]byte // Decode may write up to 2 spare bytes
	if n, err := b64.Decode(got[:], []byte(value[encodedLen+1:])); err != nil || n != sha256.Size {
		return t, false, ErrBadCookie
	}
	for i := range s.macs {
		st := s.macs[i].mac(&t)
		ok := hmac.Equal(st.sum[:], got[:sha256.Size])
		s.macs[i].put(st)
		if ok {
			return t, i > 0, nil
		}
	}
	return t, false, ErrBadCookie
}
