package sessions

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testEd25519 is a fixed Ed25519 key derived from name.
func testEd25519(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("sessions test key " + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// testP256 is a fresh P-256 key.
func testP256(t testing.TB) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	return k
}

// algCase is one algorithm's signer options, with the key a plain JWT
// library verifies its tokens with.
type algCase struct {
	alg    Algorithm
	opts   HeaderOptions
	verify any // the secret or the public key
}

func algCases(t testing.TB, clock func() time.Time) []algCase {
	ed := testEd25519("one")
	es := testP256(t)
	return []algCase{
		{HS256, HeaderOptions{Secret: []byte(headerSecret), Clock: clock}, []byte(headerSecret)},
		{EdDSA, HeaderOptions{Algorithm: EdDSA, Keys: []crypto.Signer{ed}, Clock: clock}, ed.Public()},
		{ES256, HeaderOptions{Algorithm: ES256, Keys: []crypto.Signer{es}, Clock: clock}, es.Public()},
	}
}

func joseHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	raw, err := b64.DecodeString(strings.Split(tok, ".")[0])
	require.NoError(t, err)
	var h map[string]any
	require.NoError(t, json.Unmarshal(raw, &h))
	return h
}

func TestHeaderSignerAlgorithms(t *testing.T) {
	now := time.Unix(1_767_225_600, 0)
	for _, c := range algCases(t, func() time.Time { return now }) {
		t.Run(string(c.alg), func(t *testing.T) {
			h, err := NewHeaderSigner(c.opts)
			require.NoError(t, err)
			assert.Equal(t, c.alg, h.Algorithm())
			s := bigSession(t, now, 100, "Zoë")
			tok, err := h.Sign(s, requestID)
			require.NoError(t, err)

			got, err := h.ParseHeader(tok)
			require.NoError(t, err)
			assert.Equal(t, "Zoë", got.Subject)
			assert.Equal(t, s.SID(), got.SID)

			head := joseHeader(t, tok)
			assert.Equal(t, string(c.alg), head["alg"])
			assert.Equal(t, "JWT", head["typ"])
			if c.alg == HS256 {
				assert.NotContains(t, head, "kid")
				assert.Empty(t, h.KeyID())
				assert.Nil(t, h.JWKS(), "HS256 publishes nothing")
			} else {
				kid, err := KeyID(c.verify)
				require.NoError(t, err)
				assert.Equal(t, kid, head["kid"])
				assert.Equal(t, kid, h.KeyID())
			}
			sig, err := b64.DecodeString(tok[strings.LastIndexByte(tok, '.')+1:])
			require.NoError(t, err)
			assert.Len(t, sig, c.alg.signatureLen())

			// A plain JWT library verifies it with the secret or public key.
			var claims jwt.MapClaims
			_, err = jwt.ParseWithClaims(tok, &claims, func(*jwt.Token) (any, error) { return c.verify, nil },
				jwt.WithValidMethods([]string{string(c.alg)}), jwt.WithTimeFunc(func() time.Time { return now }))
			require.NoError(t, err)
			assert.Equal(t, "Zoë", claims["sub"])
		})
	}
}

func TestHeaderLenIsExactForEveryAlgorithm(t *testing.T) {
	now := time.Unix(1_767_225_600, 0)
	for _, c := range algCases(t, func() time.Time { return now }) {
		t.Run(string(c.alg), func(t *testing.T) {
			c.opts.MaxBytes = 3000
			h, err := NewHeaderSigner(c.opts)
			require.NoError(t, err)
			assert.Equal(t, len(mustSign(t, h, &Session{})), h.Len(nil))
			for _, n := range []int{3, 100, 1000, 1500} {
				s := bigSession(t, now, n, "ann \"é\" <x>\u2028")
				assert.Equal(t, len(mustSign(t, h, s)), h.Len(s.Record()), "session of %d bytes", n)
			}
			// The budget is kept to the byte: the largest session fits, one
			// more byte is sent without its data.
			n := 3
			for h.Len(bigSession(t, now, n+1, "").Record()) <= 3000 {
				n++
			}
			whole, omitted, err := h.SignFit(bigSession(t, now, n, ""), requestID)
			require.NoError(t, err)
			assert.False(t, omitted)
			assert.GreaterOrEqual(t, len(whole), 2998, "base64 lengths skip one value in four")
			assert.LessOrEqual(t, len(whole), 3000)
			_, omitted, err = h.SignFit(bigSession(t, now, n+1, ""), requestID)
			require.NoError(t, err)
			assert.True(t, omitted)
		})
	}
}

// TestDefaultSessionFitsEveryAlgorithm: the default max_bytes keeps
// fitting the default budget with the longer EdDSA and ES256 headers.
func TestDefaultSessionFitsEveryAlgorithm(t *testing.T) {
	for _, c := range algCases(t, nil) {
		h, err := NewHeaderSigner(c.opts)
		require.NoError(t, err)
		assert.LessOrEqual(t, h.SessionHeaderLen(DefaultMaxBytes), DefaultHeaderMaxBytes, c.alg)
		t.Logf("%s: largest one-attribute session under the default budget: %d bytes", c.alg, h.LargestSession())
	}
}

func TestHeaderKeyRotation(t *testing.T) {
	now := time.Unix(1_767_225_600, 0)
	clock := func() time.Time { return now }
	old, next, es := testEd25519("old"), testEd25519("new"), testP256(t)
	before, err := NewHeaderSigner(HeaderOptions{Algorithm: EdDSA, Keys: []crypto.Signer{old}, Clock: clock})
	require.NoError(t, err)
	after, err := NewHeaderSigner(HeaderOptions{Algorithm: EdDSA, Keys: []crypto.Signer{next, old, es}, Clock: clock})
	require.NoError(t, err)
	esSigner, err := NewHeaderSigner(HeaderOptions{Algorithm: ES256, Keys: []crypto.Signer{es}, Clock: clock})
	require.NoError(t, err)

	inFlight := mustSign(t, before, &Session{})
	_, err = after.ParseHeader(inFlight)
	assert.NoError(t, err, "a token of the old key still verifies")
	_, err = after.ParseHeader(mustSign(t, esSigner, &Session{}))
	assert.NoError(t, err, "a published P-256 key verifies ES256")
	fresh := mustSign(t, after, &Session{})
	assert.Equal(t, after.KeyID(), joseHeader(t, fresh)["kid"])
	_, err = before.ParseHeader(fresh)
	assert.Error(t, err, "the old signer does not know the new key")

	var set struct{ Keys []map[string]string }
	require.NoError(t, json.Unmarshal(after.JWKS(), &set))
	require.Len(t, set.Keys, 3)
	for i, k := range []crypto.Signer{next, old, es} {
		j, err := PublicJWK(k.Public())
		require.NoError(t, err)
		assert.Equal(t, j.Kid, set.Keys[i]["kid"], "key %d in order", i)
		assert.Equal(t, "sig", set.Keys[i]["use"])
		assert.NotContains(t, set.Keys[i], "d", "public halves only")
	}
	assert.Equal(t, "EdDSA", set.Keys[0]["alg"])
	assert.Equal(t, "ES256", set.Keys[2]["alg"])
	assert.Equal(t, "EC", set.Keys[2]["kty"])
}

func TestParseHeaderPinsTheAlgorithm(t *testing.T) {
	now := time.Unix(1_767_225_600, 0)
	clock := func() time.Time { return now }
	ed, es := testEd25519("one"), testP256(t)
	h, err := NewHeaderSigner(HeaderOptions{Algorithm: EdDSA, Keys: []crypto.Signer{ed, es}, Clock: clock})
	require.NoError(t, err)
	good := mustSign(t, h, &Session{})
	parts := strings.Split(good, ".")
	claims := jwt.MapClaims{"iss": "sidecar", "aud": "app", "iat": now.Unix(), "exp": now.Unix() + 60}

	hsWithPublicKey, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(ed.Public().(ed25519.PublicKey)))
	require.NoError(t, err)
	esUnderEdKid := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	esUnderEdKid.Header["kid"] = h.KeyID()
	esUnderEdKidTok, err := esUnderEdKid.SignedString(es)
	require.NoError(t, err)
	unknown := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	unknown.Header["kid"] = "nobody"
	unknownTok, err := unknown.SignedString(ed)
	require.NoError(t, err)
	noKidTok, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(ed)
	require.NoError(t, err)
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	hs, err := NewHeaderSigner(HeaderOptions{Secret: []byte(headerSecret), Clock: clock})
	require.NoError(t, err)

	for name, tok := range map[string]string{
		"HS256 signed with the public key":  hsWithPublicKey,
		"ES256 under the Ed25519 key's kid": esUnderEdKidTok,
		"unknown kid":                       unknownTok,
		"no kid":                            noKidTok,
		"alg none":                          none,
		"tampered payload":                  parts[0] + "." + b64.EncodeToString([]byte(`{"iss":"sidecar","aud":"app","exp":9999999999}`)) + "." + parts[2],
	} {
		t.Run(name, func(t *testing.T) {
			_, err := h.ParseHeader(tok)
			assert.Error(t, err)
		})
	}
	t.Run("HS256 signer refuses EdDSA", func(t *testing.T) {
		_, err := hs.ParseHeader(good)
		assert.Error(t, err)
	})
}

func TestNewHeaderSignerRefusesBadKeys(t *testing.T) {
	ed, es := testEd25519("one"), testP256(t)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	for name, c := range map[string]struct {
		opts HeaderOptions
		want string
	}{
		"EdDSA without keys":   {HeaderOptions{Algorithm: EdDSA, Secret: []byte(headerSecret)}, "at least one header key"},
		"first key is P-256":   {HeaderOptions{Algorithm: EdDSA, Keys: []crypto.Signer{es, ed}}, "is a ES256 key, not EdDSA"},
		"first key is Ed25519": {HeaderOptions{Algorithm: ES256, Keys: []crypto.Signer{ed}}, "is a EdDSA key, not ES256"},
		"P-384":                {HeaderOptions{Algorithm: ES256, Keys: []crypto.Signer{es, p384}}, "header key 1: sessions: ECDSA key on P-384"},
		"RSA":                  {HeaderOptions{Algorithm: EdDSA, Keys: []crypto.Signer{ed, rsaKey}}, "neither an Ed25519 nor a P-256 key"},
		"duplicate":            {HeaderOptions{Algorithm: EdDSA, Keys: []crypto.Signer{ed, testEd25519("one")}}, "header keys 0 and 1 are the same key"},
		"nil key":              {HeaderOptions{Algorithm: EdDSA, Keys: []crypto.Signer{ed, nil}}, "header key 1 is nil"},
		"HS256 with keys":      {HeaderOptions{Secret: []byte(headerSecret), Keys: []crypto.Signer{ed}}, "not HS256"},
		"HS256 without secret": {HeaderOptions{}, "header secret is required"},
		"unknown algorithm":    {HeaderOptions{Algorithm: "RS256", Secret: []byte(headerSecret)}, `"RS256" is not one of HS256, EdDSA, ES256`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewHeaderSigner(c.opts)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// TestKeyIDIsTheRFC7638Thumbprint uses the Ed25519 key of RFC 8037
// appendix A.3.
func TestKeyIDIsTheRFC7638Thumbprint(t *testing.T) {
	x, err := b64.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	require.NoError(t, err)
	kid, err := KeyID(ed25519.PublicKey(x))
	require.NoError(t, err)
	assert.Equal(t, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k", kid)
}

// TestSignConcurrently shares pooled buffers and HMAC states between
// goroutines (run it under -race): every token holds its own session.
func TestSignConcurrently(t *testing.T) {
	now := time.Unix(1_767_225_600, 0)
	for _, c := range algCases(t, func() time.Time { return now }) {
		t.Run(string(c.alg), func(t *testing.T) {
			c.opts.MaxBytes = -1
			h, err := NewHeaderSigner(c.opts)
			require.NoError(t, err)
			var wg sync.WaitGroup
			errs := make(chan error, 8)
			for g := range 8 {
				wg.Go(func() {
					for i := range 25 {
						n := 10 + (g*37+i*101)%3000
						s := bigSession(t, now, n, strings.Repeat("p", g+1))
						tok, err := h.Sign(s, requestID)
						if err != nil {
							errs <- err
							return
						}
						got, err := h.ParseHeader(tok)
						if err != nil {
							errs <- err
							return
						}
						if got.SID != s.SID() || len(got.Data) != n+5 || got.Subject != strings.Repeat("p", g+1) {
							errs <- assert.AnError
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}
