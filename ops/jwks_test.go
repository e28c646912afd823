package ops_test

import (
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/ops"
	"github.com/sidecarproxy/sidecar/sessions"
)

func edSigner(t *testing.T, name string) *sessions.HeaderSigner {
	t.Helper()
	seed := sha256.Sum256([]byte(name))
	h, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Algorithm: sessions.EdDSA,
		Keys: []crypto.Signer{ed25519.NewKeyFromSeed(seed[:])}})
	require.NoError(t, err)
	return h
}

func getJWKS(t *testing.T, h http.Handler, method string) (*http.Response, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, ops.JWKSPath, nil))
	body, err := io.ReadAll(rec.Result().Body)
	require.NoError(t, err)
	return rec.Result(), string(body)
}

// TestJWKSServesTheCurrentKeys: the document of the current signer, with
// its cache headers, and a new one as soon as the keys change (a reload).
func TestJWKSServesTheCurrentKeys(t *testing.T) {
	var current atomic.Pointer[sessions.HeaderSigner]
	current.Store(edSigner(t, "one"))
	h, err := ops.New(ops.Options{Store: newFaultyStore(t, storeOK), Pool: newPool(t, "a"),
		JWKS: func() []byte { return current.Load().JWKS() }})
	require.NoError(t, err)

	resp, body := getJWKS(t, h, http.MethodGet)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.Equal(t, "public, max-age=300", resp.Header.Get("Cache-Control"))
	var doc struct{ Keys []map[string]string }
	require.NoError(t, json.Unmarshal([]byte(body), &doc))
	require.Len(t, doc.Keys, 1)
	assert.Equal(t, current.Load().KeyID(), doc.Keys[0]["kid"])

	current.Store(edSigner(t, "two"))
	_, body = getJWKS(t, h, http.MethodGet)
	assert.Contains(t, body, current.Load().KeyID(), "the rotated key shows at once")

	resp, _ = getJWKS(t, h, http.MethodHead)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = getJWKS(t, h, http.MethodPost)
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// TestJWKSUnderHS256: nothing to publish is a 404 with a JSON error that
// says why, whether the signer is HS256 or no JWKS source is wired.
func TestJWKSUnderHS256(t *testing.T) {
	hs, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte("a-header-secret-of-at-least-32-bytes")})
	require.NoError(t, err)
	for name, src := range map[string]func() []byte{"HS256": hs.JWKS, "not wired": nil} {
		t.Run(name, func(t *testing.T) {
			h, err := ops.New(ops.Options{Store: newFaultyStore(t, storeOK), Pool: newPool(t, "a"), JWKS: src})
			require.NoError(t, err)
			resp, body := getJWKS(t, h, http.MethodGet)
			assert.Equal(t, http.StatusNotFound, resp.StatusCode)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			var e struct{ Error string }
			require.NoError(t, json.Unmarshal([]byte(body), &e))
			assert.Contains(t, e.Error, "HS256")
		})
	}
}
