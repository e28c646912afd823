package sessions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims is the payload of the X-Sidecar-Session JWT (protocol §2). The
// time claims are unix seconds; Created, IdleExp and AbsExp are zero (and
// omitted) when there is no session.
type Claims struct {
	Issuer    string          `json:"iss"`
	Audience  string          `json:"aud"`
	IssuedAt  int64           `json:"iat"`
	ExpiresAt int64           `json:"exp"`
	ID        string          `json:"jti"`
	SID       string          `json:"sid"`
	New       bool            `json:"new"`
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
	// Issuer is the iss claim; "" means "sidecar".
	Issuer string
	// Audience is the aud claim; "" means "app".
	Audience string
	// TTL is exp - iat; 0 means 60s.
	TTL time.Duration
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

func (o HeaderOptions) withDefaults() HeaderOptions {
	if o.Issuer == "" {
		o.Issuer = "sidecar"
	}
	if o.Audience == "" {
		o.Audience = "app"
	}
	if o.TTL == 0 {
		o.TTL = 60 * time.Second
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

// HeaderSigner issues the X-Sidecar-Session JWT for each proxied request.
type HeaderSigner struct {
	opts HeaderOptions
}

// NewHeaderSigner returns a HeaderSigner; it fails without a secret.
func NewHeaderSigner(opts HeaderOptions) (*HeaderSigner, error) {
	if len(opts.Secret) == 0 {
		return nil, errors.New("sessions: header secret is required")
	}
	opts = opts.withDefaults()
	opts.Secret = append([]byte(nil), opts.Secret...)
	return &HeaderSigner{opts: opts}, nil
}

// Sign returns the compact JWS for s (which may be anonymous) on the
// request with id requestID.
func (h *HeaderSigner) Sign(s *Session, requestID string) (string, error) {
	now := h.opts.Clock().Unix()
	c := Claims{
		Issuer:    h.opts.Issuer,
		Audience:  h.opts.Audience,
		IssuedAt:  now,
		ExpiresAt: now + int64(h.opts.TTL/time.Second),
		ID:        requestID,
		New:       true,
		Data:      json.RawMessage("{}"),
	}
	if rec := s.Record(); rec != nil {
		c.SID = s.SID()
		c.New = false
		c.Subject = rec.Principal
		c.Data = EncodeAttrs(rec.Attrs)
		c.Version = rec.Version
		c.Created = rec.Created.Unix()
		c.IdleExp = rec.IdleExp.Unix()
		c.AbsExp = rec.AbsExp.Unix()
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, &c).SignedString(h.opts.Secret)
	if err != nil {
		return "", fmt.Errorf("signing session header: %w", err)
	}
	return tok, nil
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

// EncodeAttrs renders attributes as one JSON object with keys in sorted
// order (so equal sessions give equal headers).
func EncodeAttrs(attrs map[string]json.RawMessage) json.RawMessage {
	if len(attrs) == 0 {
		return json.RawMessage("{}")
	}
	keys := make([]string, 0, len(attrs))
	size := 2
	for k, v := range attrs {
		keys = append(keys, k)
		size += len(k) + len(v) + 4
	}
	slices.Sort(keys)
	var buf bytes.Buffer
	buf.Grow(size)
	buf.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		name, _ := json.Marshal(k) // a string always marshals
		buf.Write(name)
		buf.WriteByte(':')
		buf.Write(attrs[k])
	}
	buf.WriteByte('}')
	return buf.Bytes()
}
