package sessions

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
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
	Version   int64           `json:"ver"`
	Created   int64           `json:"created,omitempty"`
	IdleExp   int64           `json:"idle_exp,omitempty"`
	AbsExp    int64           `json:"abs_exp,omitempty"`
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
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

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
// request with id requestID.
func (h *HeaderSigner) Sign(s *Session, requestID string) (string, error) {
	now := h.opts.Clock().Unix()
	rec := s.Record()
	size := 160 + len(requestID)
	if rec != nil {
		size += rec.Size() + 4*len(rec.Attrs) + len(rec.Principal) + 120
	}
	buf := make([]byte, 0, size)
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
	switch {
	case rec == nil && s.Replaced():
		buf = append(buf, `,"sid":"","new":true,"replaced":true,"data":{},"ver":0}`...)
	case rec == nil:
		buf = append(buf, `,"sid":"","new":true,"data":{},"ver":0}`...)
	default:
		buf = append(buf, `,"sid":"`...)
		buf = append(buf, s.SID()...) // hex: needs no escaping
		buf = append(buf, `","new":false`...)
		if rec.Principal != "" {
			buf = append(buf, `,"sub":`...)
			buf = appendJSONString(buf, rec.Principal)
		}
		buf = append(buf, `,"data":`...)
		buf = appendAttrs(buf, rec.Attrs)
		buf = append(buf, `,"ver":`...)
		buf = strconv.AppendInt(buf, rec.Version, 10)
		buf = append(buf, `,"created":`...)
		buf = strconv.AppendInt(buf, rec.Created.Unix(), 10)
		buf = append(buf, `,"idle_exp":`...)
		buf = strconv.AppendInt(buf, rec.IdleExp.Unix(), 10)
		buf = append(buf, `,"abs_exp":`...)
		buf = strconv.AppendInt(buf, rec.AbsExp.Unix(), 10)
		buf = append(buf, '}')
	}
	enc := base64.RawURLEncoding
	signing := make([]byte, 0, len(h.head)+enc.EncodedLen(len(buf))+1+enc.EncodedLen(sha256.Size))
	signing = append(signing, h.head...)
	signing = enc.AppendEncode(signing, buf)
	sig, err := jwt.SigningMethodHS256.Sign(string(signing), h.opts.Secret)
	if err != nil {
		return "", fmt.Errorf("signing session header: %w", err)
	}
	signing = append(signing, '.')
	signing = enc.AppendEncode(signing, sig)
	return string(signing), nil
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
