package sessions

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const headerSecret = "header-secret-0123456789abcdefghijklmnop"

func TestHeaderAnonymous(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	h, err := NewHeaderSigner(HeaderOptions{Secret: []byte(headerSecret), Clock: func() time.Time { return now }})
	require.NoError(t, err)
	tok, err := h.Sign(&Session{}, "req-1")
	require.NoError(t, err)

	c, err := h.ParseHeader(tok)
	require.NoError(t, err)
	assert.Equal(t, "sidecar", c.Issuer)
	assert.Equal(t, "app", c.Audience)
	assert.Equal(t, now.Unix(), c.IssuedAt)
	assert.Equal(t, now.Unix()+60, c.ExpiresAt)
	assert.Equal(t, "req-1", c.ID)
	assert.True(t, c.New)
	assert.Empty(t, c.SID)
	assert.JSONEq(t, `{}`, string(c.Data))
	assert.Zero(t, c.Version)

	// The wire form: aud is a plain string and sid is present even when "".
	var m map[string]any
	parts := strings.Split(tok, ".")
	require.Len(t, parts, 3)
	payload, err := b64.DecodeString(parts[1])
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(payload, &m))
	assert.Equal(t, "app", m["aud"])
	assert.Contains(t, m, "sid")
	assert.NotContains(t, m, "sub")
}

func TestHeaderWithSession(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	h, err := NewHeaderSigner(HeaderOptions{Secret: []byte(headerSecret), Issuer: "edge", Audience: "cfml",
		TTL: 30 * time.Second, Clock: func() time.Time { return now }})
	require.NoError(t, err)
	tok, err := NewToken()
	require.NoError(t, err)
	s := &Session{token: tok, verified: true, rec: &Record{
		Attrs:     raw(map[string]string{"user": `"ann"`, "cart": `[1,2]`}),
		Principal: "ann@example.com",
		Version:   7,
		Created:   now.Add(-time.Hour),
		IdleExp:   now.Add(30 * time.Minute),
		AbsExp:    now.Add(11 * time.Hour),
	}}
	signed, err := h.Sign(s, "req-2")
	require.NoError(t, err)
	c, err := h.ParseHeader(signed)
	require.NoError(t, err)
	assert.False(t, c.New)
	assert.Equal(t, tok.SID(), c.SID)
	assert.Equal(t, "ann@example.com", c.Subject)
	assert.JSONEq(t, `{"user":"ann","cart":[1,2]}`, string(c.Data))
	assert.Equal(t, int64(7), c.Version)
	assert.Equal(t, now.Add(-time.Hour).Unix(), c.Created)
	assert.Equal(t, now.Add(30*time.Minute).Unix(), c.IdleExp)
	assert.Equal(t, now.Add(11*time.Hour).Unix(), c.AbsExp)
	assert.Equal(t, now.Unix()+30, c.ExpiresAt)
	assert.NotContains(t, signed, b64.EncodeToString(tok[:]), "the raw token never goes upstream")
}

func TestParseHeaderRejects(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	h, err := NewHeaderSigner(HeaderOptions{Secret: []byte(headerSecret), Clock: clock})
	require.NoError(t, err)
	good, err := h.Sign(&Session{}, "r")
	require.NoError(t, err)

	other, err := NewHeaderSigner(HeaderOptions{Secret: []byte("another-secret-0123456789abcdefghijklmn"), Clock: clock})
	require.NoError(t, err)
	forged, err := other.Sign(&Session{}, "r")
	require.NoError(t, err)

	later, err := NewHeaderSigner(HeaderOptions{Secret: []byte(headerSecret), Clock: func() time.Time { return now.Add(2 * time.Minute) }})
	require.NoError(t, err)

	none := jwt.NewWithClaims(jwt.SigningMethodNone, &Claims{Issuer: "sidecar", Audience: "app", ExpiresAt: now.Unix() + 60})
	unsigned, err := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)

	otherAud, err := NewHeaderSigner(HeaderOptions{Secret: []byte(headerSecret), Audience: "other", Clock: clock})
	require.NoError(t, err)
	wrongAud, err := otherAud.Sign(&Session{}, "r")
	require.NoError(t, err)

	for name, tok := range map[string]string{"forged": forged, "alg none": unsigned, "wrong aud": wrongAud, "garbage": "a.b.c"} {
		t.Run(name, func(t *testing.T) {
			_, err := h.ParseHeader(tok)
			assert.Error(t, err)
		})
	}
	t.Run("expired", func(t *testing.T) {
		_, err := later.ParseHeader(good)
		assert.ErrorIs(t, err, jwt.ErrTokenExpired)
	})
}

func TestNewHeaderSignerNeedsSecret(t *testing.T) {
	_, err := NewHeaderSigner(HeaderOptions{})
	assert.Error(t, err)
}

func TestEncodeAttrs(t *testing.T) {
	assert.Equal(t, `{}`, string(EncodeAttrs(nil)))
	got := EncodeAttrs(raw(map[string]string{"b": "2", "a": `"x"`, `q"uote`: "null"}))
	assert.Equal(t, `{"a":"x","b":2,"q\"uote":null}`, string(got))
	assert.True(t, json.Valid(got))
}

func BenchmarkHeaderSign(b *testing.B) {
	h, err := NewHeaderSigner(HeaderOptions{Secret: []byte(headerSecret)})
	if err != nil {
		b.Fatal(err)
	}
	tok, _ := NewToken()
	now := time.Now()
	s := &Session{token: tok, verified: true, rec: &Record{
		Attrs:     raw(map[string]string{"user": `"ann"`, "roles": `["buyer","admin"]`, "cart": `{"items":[1,2,3],"total":42.5}`}),
		Principal: "ann@example.com", Version: 3, Created: now, IdleExp: now.Add(time.Hour), AbsExp: now.Add(2 * time.Hour),
	}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Sign(s, "0123456789abcdef0123456789abcdef"); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHeaderEscapesPrincipalAndKeys(t *testing.T) {
	h, err := NewHeaderSigner(HeaderOptions{Secret: []byte(headerSecret), Issuer: `edge "1"`})
	require.NoError(t, err)
	tok, _ := NewToken()
	now := time.Now()
	principal := "ann \"the\" <admin>\\ \u2028 é"
	s := &Session{token: tok, verified: true, rec: &Record{
		Attrs:     raw(map[string]string{`k"ey`: `"v"`, "é": `{"a":[1]}`}),
		Principal: principal, Version: 1, Created: now, IdleExp: now.Add(time.Hour), AbsExp: now.Add(2 * time.Hour),
	}}
	signed, err := h.Sign(s, "rid")
	require.NoError(t, err)
	c, err := h.ParseHeader(signed)
	require.NoError(t, err)
	assert.Equal(t, principal, c.Subject)
	assert.Equal(t, `edge "1"`, c.Issuer)
	assert.JSONEq(t, `{"k\"ey":"v","é":{"a":[1]}}`, string(c.Data))
}
