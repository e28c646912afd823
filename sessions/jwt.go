package sessions

import (
	"crypto"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims is the payload of the X-Sidecar-Session JWT (protocol §2). The
// time claims are unix seconds; Created, IdleExp and AbsExp are zero (and
// omitted) when there is no session. Replaced is present (true) only on a
// request whose cookie names a session a regenerate moved away from (see
// Session.Replaced); such a request has no session and may not write.
type Claims struct {
	Issuer    string          `json:"iss"`
	Audience  string          `json:"aud"`
	IssuedAt  int64           `json:"iat"`
	ExpiresAt int64           `json:"exp"`
	ID        string          `json:"jti"`
	SID       string          `json:"sid"`
	New       bool            `json:"new"`
	Replaced  bool            `json:"replaced,omitempty"`
	Subject   string          `json:"sub,omitempty"`
	Data      json.RawMessage `json:"data"`
	// DataOmitted says the session's data was left out (Data is nil)
	// because the header would have passed the budget (protocol §2).
	DataOmitted bool `json:"data_omitted,omitempty"`
	// SubjectOmitted says the principal was left out too.
	SubjectOmitted bool  `json:"sub_omitted,omitempty"`
	Version        int64 `json:"ver"`
	Created        int64 `json:"created,omitempty"`
	IdleExp        int64 `json:"idle_exp,omitempty"`
	AbsExp         int64 `json:"abs_exp,omitempty"`
}

var _ jwt.Claims = (*Claims)(nil)

func numericDate(sec int64) (*jwt.NumericDate, error) {
	if sec == 0 {
		return nil, nil
	}
	return jwt.NewNumericDate(time.Unix(sec, 0)), nil
}

// GetExpirationTime implements jwt.Claims.
func (c *Claims) GetExpirationTime() (*jwt.NumericDate, error) { return numericDate(c.ExpiresAt) }

// GetIssuedAt implements jwt.Claims.
func (c *Claims) GetIssuedAt() (*jwt.NumericDate, error) { return numericDate(c.IssuedAt) }

// GetNotBefore implements jwt.Claims; Sidecar sets no nbf.
func (c *Claims) GetNotBefore() (*jwt.NumericDate, error) { return nil, nil }

// GetIssuer implements jwt.Claims.
func (c *Claims) GetIssuer() (string, error) { return c.Issuer, nil }

// GetSubject implements jwt.Claims.
func (c *Claims) GetSubject() (string, error) { return c.Subject, nil }

// GetAudience implements jwt.Claims.
func (c *Claims) GetAudience() (jwt.ClaimStrings, error) { return jwt.ClaimStrings{c.Audience}, nil }

// HeaderOptions configure the session header JWT. The zero value of each
// optional field is its stated default.
type HeaderOptions struct {
	// Algorithm signs the header: HS256 (the zero value) with Secret, or
	// EdDSA (Ed25519) or ES256 (ECDSA on P-256) with Keys, which apps
	// verify with the public keys alone (JWKS).
	Algorithm Algorithm
	// Secret is the HS256 key shared with the apps. Required with HS256;
	// ignored with EdDSA and ES256.
	Secret []byte
	// Keys are the private keys of EdDSA and ES256, each an Ed25519 or a
	// P-256 ECDSA key (ed25519.PrivateKey, *ecdsa.PrivateKey, or any
	// crypto.Signer whose public key is one of those). The first signs and
	// must fit Algorithm. All are published (JWKS) and verify (ParseHeader),
	// each with its own algorithm: to rotate, put the new key first and keep
	// the old one until the tokens it signed have expired (TTL). Required
	// with EdDSA and ES256; must be empty with HS256.
	Keys []crypto.Signer
	// Issuer is the iss claim; "" means DefaultIssuer ("sidecar").
	Issuer string
	// Audience is the aud claim; "" means DefaultAudience ("app").
	Audience string
	// TTL is exp - iat; 0 means DefaultHeaderTTL (60s).
	TTL time.Duration
	// MaxBytes is the header budget: the longest X-Sidecar-Session value
	// sent whole. A session whose header would be longer is sent without
	// its data (see SignFit), and a Manager given this signer refuses writes
	// that would make it so. 0 means DefaultHeaderMaxBytes (4096); a
	// negative value means no budget.
	MaxBytes int
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// MaxRequestIDLen is the longest request id the proxy puts in the jti
// claim: its own ids have 32 hex digits, and the X-Request-Id of a trusted
// proxy may have up to 64 characters. HeaderSigner.Len assumes the
// longest, so that a session whose write was accepted is sent whole
// whichever id a later request carries.
const MaxRequestIDLen = 64

// Stand-ins of the right length for HeaderSigner.Len (the request id's is
// MaxRequestIDLen long).
const (
	sidPlaceholder       = "00000000000000000000000000000000"
	requestIDPlaceholder = "0000000000000000000000000000000000000000000000000000000000000000"
)

func (o HeaderOptions) withDefaults() HeaderOptions {
	if o.Algorithm == "" {
		o.Algorithm = HS256
	}
	if o.Issuer == "" {
		o.Issuer = DefaultIssuer
	}
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	if o.TTL == 0 {
		o.TTL = DefaultHeaderTTL
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	switch {
	case o.MaxBytes == 0:
		o.MaxBytes = DefaultHeaderMaxBytes
	case o.MaxBytes < 0:
		o.MaxBytes = 0 // no budget
	}
	return o
}

// HeaderSigner issues the X-Sidecar-Session JWT for each proxied request.
//
// Sign runs on every request, so it serialises the claims itself (the
// JOSE header segment is fixed and computed once) into pooled buffers,
// and signs with pooled HMAC states (HS256) or the first key (EdDSA,
// ES256): the returned string is its only allocation under HS256. The
// output is an ordinary compact JWS that ParseHeader, and any JWT library,
// verifies. A HeaderSigner is safe for concurrent use.
type HeaderSigner struct {
	opts     HeaderOptions
	head     string // base64url of the fixed JOSE header, plus "."
	sigLen   int    // bytes of the signature
	issuer   []byte // JSON-quoted issuer and audience, computed once
	audience []byte
	keys     []headerKey // EdDSA and ES256: Keys; the first signs
	jwks     []byte      // the JWKS document of keys; nil under HS256
	pool     sync.Pool   // of *signBuf
	omitted  atomic.Uint64
}

// signBuf is one Sign's scratch space, reused through HeaderSigner.pool.
type signBuf struct {
	claims []byte
	out    []byte
	names  []string  // attribute names, to sort
	mac    hash.Hash // HS256: HMAC-SHA256 keyed with the secret
	sig    [64]byte  // the signature, when the algorithm lets it land here
}

// maxPooledBuf is the largest buffer put back in the pool: a header
// larger than that (a session with no budget) is rare enough to allocate.
const maxPooledBuf = 64 << 10

// NewHeaderSigner returns a HeaderSigner. It fails without a secret
// (HS256) or a key (EdDSA, ES256), on an unknown algorithm, on a key that
// is neither Ed25519 nor P-256, when the first key does not fit the
// algorithm, and when HS256 is given keys.
func NewHeaderSigner(opts HeaderOptions) (*HeaderSigner, error) {
	opts = opts.withDefaults()
	if err := opts.Algorithm.Validate(); err != nil {
		return nil, err
	}
	h := &HeaderSigner{sigLen: opts.Algorithm.signatureLen()}
	if opts.Algorithm == HS256 {
		if len(opts.Secret) == 0 {
			return nil, errors.New("sessions: header secret is required")
		}
		if len(opts.Keys) > 0 {
			return nil, errors.New("sessions: header keys are for EdDSA and ES256, not HS256")
		}
		opts.Secret = append([]byte(nil), opts.Secret...)
		h.head = b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "."
	} else {
		keys, doc, err := newHeaderKeys(opts.Algorithm, opts.Keys)
		if err != nil {
			return nil, err
		}
		opts.Secret, opts.Keys = nil, slices.Clone(opts.Keys)
		h.keys, h.jwks = keys, doc
		h.head = b64.EncodeToString([]byte(`{"alg":"`+string(opts.Algorithm)+`","kid":"`+keys[0].kid+`","typ":"JWT"}`)) + "."
	}
	h.opts = opts
	h.issuer = appendJSONString(nil, opts.Issuer)
	h.audience = appendJSONString(nil, opts.Audience)
	h.pool.New = func() any {
		e := &signBuf{}
		if opts.Algorithm == HS256 {
			e.mac = hmac.New(sha256.New, opts.Secret)
		}
		return e
	}
	return h, nil
}

// Algorithm is the algorithm h signs with.
func (h *HeaderSigner) Algorithm() Algorithm { return h.opts.Algorithm }

// KeyID is the kid of the signing key (its RFC 7638 thumbprint), or ""
// under HS256.
func (h *HeaderSigner) KeyID() string {
	if len(h.keys) == 0 {
		return ""
	}
	return h.keys[0].kid
}

// Sign returns the compact JWS for s (which may be anonymous) on the
// request with id requestID. A header that would pass the budget
// (HeaderOptions.MaxBytes) is sent without its data; see SignFit.
func (h *HeaderSigner) Sign(s *Session, requestID string) (string, error) {
	tok, _, err := h.SignFit(s, requestID)
	return tok, err
}

// SignFit is Sign that also reports whether the header had to leave the
// session's data out to fit the budget.
//
// A session written before the budget existed (or under a larger one) can
// be too big for it. Its header then has no "data" claim and carries
// "data_omitted": true instead, and if that is still too big, no "sub"
// either ("sub_omitted": true): the app still learns that there is a
// session and can destroy it, where a header that the app server refuses
// would lock the user out. Each omission adds one to DataOmitted.
func (h *HeaderSigner) SignFit(s *Session, requestID string) (tok string, omitted bool, err error) {
	e := h.pool.Get().(*signBuf)
	defer h.putBuf(e)
	now := h.opts.Clock().Unix()
	rec := s.Record()
	var sidBuf [2 * sidBytes]byte
	sid := s.appendSID(sidBuf[:0])
	mark := 0
	if s.Replaced() {
		mark = markReplaced
	}
	e.claims = h.appendClaims(e.claims[:0], e, rec, sid, requestID, now, mark)
	if max := h.opts.MaxBytes; max > 0 && rec != nil && h.signedLen(len(e.claims)) > max {
		omitted = true
		h.omitted.Add(1)
		e.claims = h.appendClaims(e.claims[:0], e, rec, sid, requestID, now, omitData)
		if h.signedLen(len(e.claims)) > max && rec.Principal != "" {
			e.claims = h.appendClaims(e.claims[:0], e, rec, sid, requestID, now, omitData|omitSubject)
		}
	}
	out := slices.Grow(e.out[:0], h.signedLen(len(e.claims)))
	out = append(out, h.head...)
	out = b64.AppendEncode(out, e.claims)
	sig, err := h.signature(e, out)
	if err != nil {
		return "", false, fmt.Errorf("signing session header: %w", err)
	}
	out = append(out, '.')
	out = b64.AppendEncode(out, sig)
	e.out = out
	return string(out), omitted, nil
}

// signature signs the JWS signing input with the secret or the first key.
func (h *HeaderSigner) signature(e *signBuf, input []byte) ([]byte, error) {
	if e.mac != nil {
		e.mac.Reset()
		e.mac.Write(input)
		return e.mac.Sum(e.sig[:0]), nil
	}
	return h.keys[0].sign(input, e.sig[:0])
}

func (h *HeaderSigner) putBuf(e *signBuf) {
	if cap(e.out) > maxPooledBuf || cap(e.claims) > maxPooledBuf {
		return
	}
	clear(e.names[:cap(e.names)]) // let the session's strings go
	h.pool.Put(e)
}

// DataOmitted counts the headers signed without their data because they
// would have passed the budget (see SignFit).
func (h *HeaderSigner) DataOmitted() uint64 { return h.omitted.Load() }

// MaxBytes is the header budget: the longest header Sign sends whole, or
// 0 for none.
func (h *HeaderSigner) MaxBytes() int { return h.opts.MaxBytes }

// Len is the length of the header Sign would send, whole, for a session
// holding rec (nil: anonymous) on a request whose id has MaxRequestIDLen
// characters, the longest the proxy sends. It is exact for the current
// second with such an id, and 43 bytes more than the header of a request
// carrying one of Sidecar's own 32-digit ids.
func (h *HeaderSigner) Len(rec *Record) int {
	var sid []byte
	if rec != nil {
		sid = []byte(sidPlaceholder)
	}
	e := h.pool.Get().(*signBuf)
	defer h.putBuf(e)
	e.claims = h.appendClaims(e.claims[:0], e, rec, sid, requestIDPlaceholder, h.opts.Clock().Unix(), 0)
	return h.signedLen(len(e.claims))
}

// signedLen is the length of the compact JWS whose claims serialise to n
// bytes: the fixed JOSE header (with the kid under EdDSA and ES256), the
// claims and the signature (32 bytes under HS256, 64 under EdDSA and
// ES256), each base64url without padding, joined by dots.
func (h *HeaderSigner) signedLen(n int) int {
	return len(h.head) + b64.EncodedLen(n) + 1 + b64.EncodedLen(h.sigLen)
}

// What appendClaims leaves out, or marks.
const (
	omitData = 1 << iota
	omitSubject
	markReplaced // an anonymous request whose token was regenerated away
)

// appendClaims serialises the claims for rec (nil: anonymous) with the
// given sid, request id and issue time; e lends its scratch space.
func (h *HeaderSigner) appendClaims(buf []byte, e *signBuf, rec *Record, sid []byte, requestID string, now int64, omit int) []byte {
	if buf == nil {
		size := 160 + len(requestID)
		if rec != nil {
			size += rec.Size() + 4*len(rec.Attrs) + len(rec.Principal) + 120
		}
		buf = make([]byte, 0, size)
	}
	buf = append(buf, `{"iss":`...)
	buf = append(buf, h.issuer...)
	buf = append(buf, `,"aud":`...)
	buf = append(buf, h.audience...)
	buf = append(buf, `,"iat":`...)
	buf = strconv.AppendInt(buf, now, 10)
	buf = append(buf, `,"exp":`...)
	buf = strconv.AppendInt(buf, now+int64(h.opts.TTL/time.Second), 10)
	buf = append(buf, `,"jti":`...)
	buf = appendJSONString(buf, requestID)
	if rec == nil {
		if omit&markReplaced != 0 {
			return append(buf, `,"sid":"","new":true,"replaced":true,"data":{},"ver":0}`...)
		}
		return append(buf, `,"sid":"","new":true,"data":{},"ver":0}`...)
	}
	buf = append(buf, `,"sid":"`...)
	buf = append(buf, sid...) // hex: needs no escaping
	buf = append(buf, `","new":false`...)
	switch {
	case omit&omitSubject != 0:
		buf = append(buf, `,"sub_omitted":true`...)
	case rec.Principal != "":
		buf = append(buf, `,"sub":`...)
		buf = appendJSONString(buf, rec.Principal)
	}
	if omit&omitData != 0 {
		buf = append(buf, `,"data_omitted":true`...)
	} else {
		buf = append(buf, `,"data":`...)
		buf, e.names = appendAttrs(buf, rec.Attrs, e.names[:0])
	}
	buf = append(buf, `,"ver":`...)
	buf = strconv.AppendInt(buf, rec.Version, 10)
	buf = append(buf, `,"created":`...)
	buf = strconv.AppendInt(buf, rec.Created.Unix(), 10)
	buf = append(buf, `,"idle_exp":`...)
	buf = strconv.AppendInt(buf, rec.IdleExp.Unix(), 10)
	buf = append(buf, `,"abs_exp":`...)
	buf = strconv.AppendInt(buf, rec.AbsExp.Unix(), 10)
	return append(buf, '}')
}

// appendAttrs renders attributes as one JSON object with keys in sorted
// order (so equal sessions give equal headers); names is scratch space for
// the sort, returned for reuse.
func appendAttrs(buf []byte, attrs map[string]json.RawMessage, names []string) ([]byte, []string) {
	if len(attrs) == 0 {
		return append(buf, "{}"...), names
	}
	for k := range attrs {
		names = append(names, k)
	}
	slices.Sort(names)
	buf = append(buf, '{')
	for i, k := range names {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, k)
		buf = append(buf, ':')
		buf = append(buf, attrs[k]...)
	}
	return append(buf, '}'), names
}
