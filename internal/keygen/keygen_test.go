package keygen

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

// TestNewSetIsFresh: each secret is Bytes random bytes in base64url, with
// no character that needs quoting, and no two are equal, within a Set or
// across Sets.
func TestNewSetIsFresh(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		s := NewSet()
		for _, v := range []string{s.Cookie, s.Header, s.Admin, s.LockService} {
			b, err := base64.RawURLEncoding.DecodeString(v)
			if assert.NoError(t, err, "%q is base64url", v) {
				assert.Len(t, b, Bytes)
			}
			assert.Len(t, v, 43)
			assert.NotContains(t, v, ",")
			assert.False(t, seen[v], "secrets differ")
			seen[v] = true
		}
	}
}

// TestNewKey: each algorithm's key parses as the PKCS#8 PEM that
// headers.key_files reads, is of the right type, and has its thumbprint
// as kid; other algorithms are refused.
func TestNewKey(t *testing.T) {
	for alg, want := range map[string]sessions.Algorithm{"EdDSA": sessions.EdDSA, "ES256": sessions.ES256} {
		t.Run(alg, func(t *testing.T) {
			k, err := NewKey(alg)
			require.NoError(t, err)
			block, rest := pem.Decode(k.PEM)
			require.NotNil(t, block)
			assert.Empty(t, rest)
			assert.Equal(t, "PRIVATE KEY", block.Type)
			parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			require.NoError(t, err)
			pub := parsed.(crypto.Signer).Public()
			got, err := sessions.KeyAlgorithm(pub)
			require.NoError(t, err)
			assert.Equal(t, want, got)
			kid, err := sessions.KeyID(pub)
			require.NoError(t, err)
			assert.Equal(t, kid, k.KeyID)
			assert.Contains(t, k.Note(alg), kid)
			other, err := NewKey(alg)
			require.NoError(t, err)
			assert.NotEqual(t, k.KeyID, other.KeyID, "fresh each time")
		})
	}
	for _, alg := range []string{"HS256", "RS256", "eddsa", ""} {
		_, err := NewKey(alg)
		assert.Error(t, err, alg)
	}
}
