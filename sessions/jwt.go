package sessions

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	// Secret is the HS256 key shared with the apps. Required.
	Secret []byte
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
// JOSE header segment is fixed and computed once; claims are appended into
// one buffer) and leaves only the signature to golang-jwt's HS256. The
// output is an ordinary compact JWS that ParseHeader, and any JWT library,
// verifies.
type HeaderSigner struct {
	opts     HeaderOptions
	head     string // base64url of the fixed JOSE header, plus "."
	issuer   []byte // JSON-quoted issuer and audience, computed once
	audience []byte
	omitted  atomic.Uint64 // headers signed without their data
}

// NewHeaderSigner returns a HeaderSigner; it fails without a secret.
func NewHeaderSigner(opts HeaderOptions) (*HeaderSigner, error) {
	if len(opts.Secret) == 0 {
		return nil, errors.New("sessions: header secret is required")
	}
	opts = opts.withDefaults()
	opts.Secret = append([]byte(nil), opts.Secret...)
	iss, _ := json.Marshal(opts.Issuer) // strings always marshal
	aud, _ := json.Marshal(opts.Audience)
	return &HeaderSigner{
		opts:     opts,
		head:     base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + ".",
		issuer:   iss,
		audience: aud,
	}, nil
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
	now := h.opts.Clock().Unix()
	rec := s.Record()
	mark := 0
	if s.Replaced() {
		mark = markReplaced
	}
	buf := h.appendClaims(nil, rec, s.SID(), requestID, now, mark)
	if max := h.opts.MaxBytes; max > 0 && rec != nil && h.signedLen(len(buf)) > max {
		omitted = true
		h.omitted.Add(1)
		buf = h.appendClaims(buf[:0], rec, s.SID(), requestID, now, omitData)
		if h.signedLen(len(buf)) > max && rec.Principal != "" {
			buf = h.appendClaims(buf[:0], rec, s.SID(), requestID, now, omitData|omitSubject)
		}
	}
	enc := base64.RawURLEncoding
	signing := make([]byte, 0, h.signedLen(len(buf)))
	signing = append(signing, h.head...)
	signing = enc.AppendEncode(signing, buf)
	sig, err := jwt.SigningMethodHS256.Sign(string(signing), h.opts.Secret)
	if err != nil {
		return "", false, fmt.Errorf("signing session header: %w", err)
	}
	signing = append(signing, '.')
	signing = enc.AppendEncode(signing, sig)
	return string(signing), omitted, nil
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
	sid := ""
	if rec != nil {
		sid = sidPlaceholder
	}
	return h.signedLen(len(h.appendClaims(nil, rec, sid, requestIDPlaceholder, h.opts.Clock().Unix(), 0)))
}

// signedLen is the length of the compact JWS whose claims serialise to n
// bytes: the fixed JOSE header, the claims and the HS256 signature, each
// base64url without padding, joined by dots.
func (h *HeaderSigner) signedLen(n int) int {
	enc := base64.RawURLEncoding
	return len(h.head) + enc.EncodedLen(n) + 1 + enc.EncodedLen(sha256.Size)
}

// What appendClaims leaves out, or marks.
const (
	omitData = 1 << iota
	omitSubject
	markReplaced // an anonymous request whose token was regenerated away
)

// appendClaims serialises the claims for rec (nil: anonymous) with the
// given sid, request id and issue time.
func (h *HeaderSigner) appendClaims(buf []byte, rec *Record, sid, requestID string, now int64, omit int) []byte {
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
		buf = appendAttrs(buf, rec.Attrs)
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

// appendJSONString appends s as a JSON string.
func appendJSONString(buf []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(buf, b...)
}

// ParseHeader verifies a session header JWT as an app should: HS256 only,
// the signature, exp (required), iss and aud. It is what Go apps and
// Sidecar's own tests use; apps in other languages do the same checks with
// their JWT library.
func (h *HeaderSigner) ParseHeader(token string) (*Claims, error) {
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c,
		func(*jwt.Token) (any, error) { return h.opts.Secret, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
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

// appendAttrs renders attributes as one JSON object with keys in sorted
// order (so equal sessions give equal headers).
func appendAttrs(buf []byte, attrs map[string]json.RawMessage) []byte {
	if len(attrs) == 0 {
		return append(buf, "{}"...)
	}
	keys := make([]string, 0, len(attrs))
	for k := range attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, k)
		buf = append(buf, ':')
		buf = append(buf, attrs[k]...)
	}
	return append(buf, '}')
}
