package integration

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/keygen"
	"github.com/sidecarproxy/sidecar/ops"
)

// TestHeaderKeyRotationOnSIGHUP signs the session header of the real
// binary with Ed25519 keys from headers.key_files and rotates them the
// documented way: the new key file first, the old one kept, SIGHUP. The
// JWKS on the ops listener then publishes both, new headers carry the new
// kid, and a header signed before the rotation still verifies against the
// served JWKS, as an app holding no secret verifies it. A reload whose
// first key does not fit headers.algorithm is refused and changes
// nothing; dropping the old key retires it. No key material reaches the
// log.
func TestHeaderKeyRotationOnSIGHUP(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get("X-Sidecar-Session"))
	}))
	t.Cleanup(app.Close)
	dir := t.TempDir()
	writeKey := func(name, alg string) (string, keygen.Key) {
		k, err := keygen.NewKey(alg)
		require.NoError(t, err)
		path := filepath.Join(dir, name)
		replaceFile(t, path, string(k.PEM))
		return path, k
	}
	oldPath, oldKey := writeKey("old.pem", "EdDSA")
	newPath, newKey := writeKey("new.pem", "EdDSA")
	esPath, _ := writeKey("es.pem", "ES256")
	opsAddr := freeAddr(t)
	spec := sidecarSpec{Upstreams: []upstreamSpec{{Name: "app1", URL: app.URL}}, Set: map[string]any{
		"headers.secret":    nil,
		"headers.algorithm": "EdDSA",
		"headers.key_files": []string{oldPath},
		"ops.listen":        opsAddr,
	}}
	sc := startSidecarProc(t, spec)
	spec.Listen = sc.addr

	header := func() string {
		t.Helper()
		resp, err := http.Get(sc.URL() + "/")
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s\n%s", b, sc.p.dump())
		return string(b)
	}
	served := func() jwksDoc {
		t.Helper()
		resp, err := http.Get("http://" + opsAddr + ops.JWKSPath)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "public, max-age=300", resp.Header.Get("Cache-Control"))
		var doc jwksDoc
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
		return doc
	}

	before := header()
	assert.Equal(t, oldKey.KeyID, tokenKid(t, before))
	require.Equal(t, []string{oldKey.KeyID}, served().kids())
	require.NoError(t, served().verify(before))

	// Rotate: the new key first, the old one kept.
	spec.Set["headers.key_files"] = []string{newPath, oldPath}
	require.True(t, sc.reload(spec.yaml(t)), "the rotation is applied:\n%s", sc.p.dump())
	assert.Contains(t, reloadedKeys(sc), "headers.key_files")
	doc := served()
	assert.Equal(t, []string{newKey.KeyID, oldKey.KeyID}, doc.kids(), "both keys are published, the signing key first")
	after := header()
	assert.Equal(t, newKey.KeyID, tokenKid(t, after), "new headers carry the new kid")
	assert.NoError(t, doc.verify(after))
	assert.NoError(t, doc.verify(before), "a header signed before the rotation still verifies")

	// A first key that does not fit EdDSA: refused, nothing changes.
	spec.Set["headers.key_files"] = []string{esPath, newPath}
	require.False(t, sc.reload(spec.yaml(t)))
	assert.Contains(t, lastRefusal(sc), "headers.key_files[0]")
	assert.Equal(t, []string{newKey.KeyID, oldKey.KeyID}, served().kids())
	assert.Equal(t, newKey.KeyID, tokenKid(t, header()))

	// Retire the old key once its headers have expired.
	spec.Set["headers.key_files"] = []string{newPath}
	require.True(t, sc.reload(spec.yaml(t)))
	doc = served()
	assert.Equal(t, []string{newKey.KeyID}, doc.kids())
	assert.ErrorIs(t, doc.verify(before), errUnknownKid, "the retired key no longer verifies")
	assert.NoError(t, doc.verify(header()))

	log := sc.p.dump()
	for _, k := range []keygen.Key{oldKey, newKey} {
		body := strings.Join(strings.Split(string(k.PEM), "\n")[1:2], "")
		assert.NotContains(t, log, body, "no private key in the log")
	}
}

// jwksDoc is a JWKS document as an app reads it.
type jwksDoc struct {
	Keys []struct {
		Kty, Crv, X, Kid, Alg, Use string
	} `json:"keys"`
}

func (d jwksDoc) kids() []string {
	var out []string
	for _, k := range d.Keys {
		out = append(out, k.Kid)
	}
	return out
}

var errUnknownKid = errors.New("unknown kid")

// verify checks token as an app holding only the JWKS does: EdDSA
// pinned, the key its kid names, exp, iss and aud.
func (d jwksDoc) verify(token string) error {
	_, err := jwt.Parse(token, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		for _, k := range d.Keys {
			if k.Kid == kid && k.Kty == "OKP" && k.Crv == "Ed25519" && k.Alg == "EdDSA" && k.Use == "sig" {
				x, err := base64.RawURLEncoding.DecodeString(k.X)
				return ed25519.PublicKey(x), err
			}
		}
		return nil, errUnknownKid
	}, jwt.WithValidMethods([]string{"EdDSA"}), jwt.WithExpirationRequired(),
		jwt.WithIssuer("sidecar"), jwt.WithAudience("app"))
	return err
}

// tokenKid is the kid in a JWT's JOSE header.
func tokenKid(t *testing.T, token string) string {
	t.Helper()
	head, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	require.NoError(t, err)
	var h struct {
		Alg, Kid string
	}
	require.NoError(t, json.Unmarshal(head, &h))
	assert.Equal(t, "EdDSA", h.Alg)
	return h.Kid
}
