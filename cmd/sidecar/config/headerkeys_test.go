package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/keygen"
	"github.com/sidecarproxy/sidecar/sessions"
)

// keyFile writes a fresh key for alg into dir and returns its path and
// kid.
func keyFile(t *testing.T, dir, name, alg string) (string, string) {
	t.Helper()
	k, err := keygen.NewKey(alg)
	require.NoError(t, err)
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, k.PEM, 0o600))
	return path, k.KeyID
}

// keysYAML is minimalYAML signing with alg and the given key files, and
// without headers.secret.
func keysYAML(alg string, files ...string) string {
	y := strings.Replace(minimalYAML, `secret: "`+testHeaderSecret+`"`, "algorithm: "+alg, 1)
	quoted := make([]string, len(files))
	for i, f := range files {
		quoted[i] = fmt.Sprintf("%q", f)
	}
	return y + "  key_files: [" + strings.Join(quoted, ", ") + "]\nops:\n  listen: 127.0.0.1:9099\n"
}

// pemFile writes a PEM block of the given type and DER bytes.
func pemFile(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600))
	return path
}

func TestLoadHeaderKeys(t *testing.T) {
	dir := t.TempDir()
	ed1, kid1 := keyFile(t, dir, "ed1.pem", "EdDSA")
	ed2, kid2 := keyFile(t, dir, "ed2.pem", "EdDSA")
	es, kidES := keyFile(t, dir, "es.pem", "ES256")

	t.Run("EdDSA, rotation key and a P-256 key published", func(t *testing.T) {
		cfg, err := Load(writeFile(t, "sidecar.yaml", keysYAML("EdDSA", ed2, ed1, es)), nil)
		require.NoError(t, err)
		assert.Equal(t, []string{kid2, kid1, kidES}, cfg.Headers.KeyIDs())
		assert.Empty(t, cfg.Warnings(), "no secret, ops.listen on")
		h, err := sessions.NewHeaderSigner(cfg.Headers.HeaderOptions())
		require.NoError(t, err)
		assert.Equal(t, sessions.EdDSA, h.Algorithm())
		assert.Equal(t, kid2, h.KeyID())
		assert.Contains(t, string(h.JWKS()), kidES)
	})
	t.Run("ES256", func(t *testing.T) {
		cfg, err := Load(writeFile(t, "sidecar.yaml", keysYAML("ES256", es)), nil)
		require.NoError(t, err)
		h, err := sessions.NewHeaderSigner(cfg.Headers.HeaderOptions())
		require.NoError(t, err)
		assert.Equal(t, kidES, h.KeyID())
	})
	t.Run("from the environment", func(t *testing.T) {
		cfg, err := Load(writeFile(t, "sidecar.yaml", minimalYAML),
			[]string{"SIDECAR_HEADERS__ALGORITHM=EdDSA", "SIDECAR_HEADERS__KEY_FILES=" + ed1 + "," + ed2, "SIDECAR_HEADERS__SECRET="})
		require.NoError(t, err)
		assert.Equal(t, []string{kid1, kid2}, cfg.Headers.KeyIDs())
	})
	t.Run("the secret is unused: a warning", func(t *testing.T) {
		y := strings.Replace(keysYAML("EdDSA", ed1), "algorithm: EdDSA", "algorithm: EdDSA\n  secret: \""+testHeaderSecret+"\"", 1)
		cfg, err := Load(writeFile(t, "sidecar.yaml", y), nil)
		require.NoError(t, err, y)
		w := strings.Join(cfg.Warnings(), "\n")
		assert.Contains(t, w, "headers.secret is set but unused")
		assert.NotContains(t, w, testHeaderSecret)
	})
	t.Run("without ops.listen: a warning", func(t *testing.T) {
		cfg, err := Load(writeFile(t, "sidecar.yaml", strings.Replace(keysYAML("EdDSA", ed1), "listen: 127.0.0.1:9099", `listen: ""`, 1)), nil)
		require.NoError(t, err)
		assert.Contains(t, strings.Join(cfg.Warnings(), "\n"), "nothing serves /.well-known/jwks.json")
	})
}

func TestLoadHeaderKeyErrors(t *testing.T) {
	dir := t.TempDir()
	ed, _ := keyFile(t, dir, "ed.pem", "EdDSA")
	es, _ := keyFile(t, dir, "es.pem", "ES256")
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	require.NoError(t, err)
	p384DER, err := x509.MarshalPKCS8PrivateKey(p384)
	require.NoError(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	rsaDER, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	require.NoError(t, err)
	p256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	sec1, err := x509.MarshalECPrivateKey(p256)
	require.NoError(t, err)
	edPEM, err := os.ReadFile(ed)
	require.NoError(t, err)
	twoBlocks := filepath.Join(dir, "two.pem")
	require.NoError(t, os.WriteFile(twoBlocks, append(append([]byte{}, edPEM...), edPEM...), 0o600))
	notPEM := writeFile(t, "not.pem", "just text\n")
	missing := filepath.Join(dir, "missing.pem")

	for name, c := range map[string]struct {
		yaml    string
		key     string
		message string
	}{
		"missing file":      {keysYAML("EdDSA", ed, missing), "headers.key_files[1]", "cannot read"},
		"not PEM":           {keysYAML("EdDSA", ed, notPEM), "headers.key_files[1]", "holds no PEM block"},
		"two blocks":        {keysYAML("EdDSA", twoBlocks), "headers.key_files[0]", "more than one PEM block"},
		"SEC 1 EC key":      {keysYAML("ES256", pemFile(t, dir, "sec1.pem", "EC PRIVATE KEY", sec1)), "headers.key_files[0]", "openssl pkcs8 -topk8"},
		"encrypted":         {keysYAML("EdDSA", pemFile(t, dir, "enc.pem", "ENCRYPTED PRIVATE KEY", []byte{1})), "headers.key_files[0]", "encrypted"},
		"certificate":       {keysYAML("EdDSA", pemFile(t, dir, "cert.pem", "CERTIFICATE", []byte{1})), "headers.key_files[0]", `"CERTIFICATE" block`},
		"garbage DER":       {keysYAML("EdDSA", pemFile(t, dir, "bad.pem", "PRIVATE KEY", []byte{1, 2, 3})), "headers.key_files[0]", "not a valid PKCS#8"},
		"RSA":               {keysYAML("EdDSA", ed, pemFile(t, dir, "rsa.pem", "PRIVATE KEY", rsaDER)), "headers.key_files[1]", "only Ed25519 (EdDSA) and P-256 (ES256)"},
		"P-384":             {keysYAML("ES256", pemFile(t, dir, "p384.pem", "PRIVATE KEY", p384DER)), "headers.key_files[0]", "only Ed25519 (EdDSA) and P-256 (ES256)"},
		"duplicate":         {keysYAML("EdDSA", ed, ed), "headers.key_files[1]", "same key as headers.key_files[0]"},
		"first key P-256":   {keysYAML("EdDSA", es, ed), "headers.key_files[0]", "holds a ES256 key, but headers.algorithm is EdDSA"},
		"first key Ed25519": {keysYAML("ES256", ed), "headers.key_files[0]", "holds a EdDSA key, but headers.algorithm is ES256"},
		"no key files":      {keysYAML("EdDSA"), "headers.key_files", "is required with headers.algorithm EdDSA"},
		"unknown algorithm": {keysYAML("RS256", ed), "headers.algorithm", `"RS256" is not one of HS256, EdDSA, ES256`},
		"HS256 with key files": {strings.Replace(keysYAML("HS256", ed), "algorithm: HS256", `secret: "`+testHeaderSecret+`"`, 1),
			"headers.key_files", "is only for headers.algorithm EdDSA or ES256"},
		"EdDSA with a bad secret": {strings.Replace(keysYAML("EdDSA", ed), "algorithm: EdDSA", "algorithm: EdDSA\n  secret: short", 1),
			"headers.secret", "must be at least 32 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load(writeFile(t, "sidecar.yaml", c.yaml), nil)
			require.Error(t, err)
			assert.Contains(t, errorKeys(err), c.key, "%v", err)
			assert.Contains(t, err.Error(), c.key+": ")
			assert.Contains(t, err.Error(), c.message)
			assert.NotContains(t, err.Error(), "BEGIN", "never the file's contents")
		})
	}
}

// TestHeaderKeysNeverPrint: the private keys Load read stay out of every
// printed form of the config.
func TestHeaderKeysNeverPrint(t *testing.T) {
	dir := t.TempDir()
	ed, _ := keyFile(t, dir, "ed.pem", "EdDSA")
	cfg, err := Load(writeFile(t, "sidecar.yaml", keysYAML("EdDSA", ed)), nil)
	require.NoError(t, err)
	priv := cfg.Headers.loaded()[0].signer
	raw := fmt.Sprint(priv)
	for name, out := range map[string]string{
		"%v": fmt.Sprintf("%v", *cfg), "%+v": fmt.Sprintf("%+v", *cfg), "%#v": fmt.Sprintf("%#v", *cfg),
		"headers %+v": fmt.Sprintf("%+v", cfg.Headers), "headers %#v": fmt.Sprintf("%#v", cfg.Headers), "String": cfg.String(),
	} {
		assert.NotContains(t, out, raw, name)
		assert.NotContains(t, out, strings.Trim(raw, "[]"), name)
	}
}

func TestReloadRotatesHeaderKeys(t *testing.T) {
	dir := t.TempDir()
	old, oldKid := keyFile(t, dir, "old.pem", "EdDSA")
	next, nextKid := keyFile(t, dir, "next.pem", "EdDSA")
	running, err := Load(writeFile(t, "sidecar.yaml", keysYAML("EdDSA", old)), nil)
	require.NoError(t, err)

	t.Run("new key first, old kept", func(t *testing.T) {
		loaded, err := Load(writeFile(t, "sidecar.yaml", keysYAML("EdDSA", next, old)), nil)
		require.NoError(t, err)
		merged, applied, restart, err := running.Reload(*loaded)
		require.NoError(t, err)
		assert.Equal(t, []string{"headers.key_files"}, applied)
		assert.Empty(t, restart)
		assert.Equal(t, []string{nextKid, oldKid}, merged.Headers.KeyIDs())
		assert.Equal(t, []string{oldKid}, running.Headers.KeyIDs(), "the running config is not modified")
	})
	t.Run("a file rewritten in place", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "key.pem")
		b, err := os.ReadFile(old)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, b, 0o600))
		before, err := Load(writeFile(t, "sidecar.yaml", keysYAML("EdDSA", path)), nil)
		require.NoError(t, err)
		b, err = os.ReadFile(next)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(path, b, 0o600))
		after, err := Load(writeFile(t, "sidecar.yaml", keysYAML("EdDSA", path)), nil)
		require.NoError(t, err)
		merged, applied, _, err := before.Reload(*after)
		require.NoError(t, err)
		assert.Equal(t, []string{"headers.key_files"}, applied, "the paths did not change, the keys did")
		assert.Equal(t, []string{nextKid}, merged.Headers.KeyIDs())
	})
	t.Run("the algorithm takes a restart", func(t *testing.T) {
		es, _ := keyFile(t, dir, "es.pem", "ES256")
		loaded, err := Load(writeFile(t, "sidecar.yaml", keysYAML("ES256", es)), nil)
		require.NoError(t, err)
		merged, _, _, err := running.Reload(*loaded)
		require.Error(t, err, "the running EdDSA cannot sign with a P-256 first key")
		assert.Contains(t, err.Error(), "headers.key_files[0]")
		assert.Equal(t, []string{oldKid}, merged.Headers.KeyIDs())
	})
}
