package main

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/keygen"
)

// keygenOut runs `sidecar keygen ARGS` and returns its output.
func keygenOut(t *testing.T, args ...string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(append([]string{"keygen"}, args...), &out, &errOut), "stderr: %s", errOut.String())
	require.Empty(t, errOut.String())
	return out.String()
}

// keygenBase is the rest of a config for keygen's secrets: the admin API
// and the lock service on, so that their tokens are validated too.
const keygenBase = `
listen: "127.0.0.1:19090"
upstreams:
  - name: app1
    url: "http://127.0.0.1:8081"
store:
  type: memory
`

var keygenEnvOn = []string{"SIDECAR_ADMIN__LISTEN=127.0.0.1:19091", "SIDECAR_LOCK_SERVICE__LISTEN=127.0.0.1:19092"}

func TestKeygenYAMLValidatesAsConfig(t *testing.T) {
	out := keygenOut(t)
	p := filepath.Join(t.TempDir(), "sidecar.yaml")
	require.NoError(t, os.WriteFile(p, []byte(keygenBase+out), 0o600))
	cfg, err := config.Load(p, keygenEnvOn)
	require.NoError(t, err, "keygen's YAML is a valid config:\n%s", out)
	assert.Empty(t, cfg.Warnings())
	assert.False(t, cfg.UsesExampleSecrets())
	require.Len(t, cfg.Session.Secrets, 1)
	assertFresh(t, string(cfg.Session.Secrets[0]), string(cfg.Headers.Secret), string(cfg.Admin.Token), string(cfg.LockService.Token))

	// And `sidecar check` agrees.
	code, stdout, stderr := runCheckEnv(t, keygenBase+out, keygenEnvOn)
	assert.Equal(t, 0, code, "stderr: %s", stderr)
	assert.Contains(t, stdout, "is valid")
}

func TestKeygenEnvValidatesAsConfig(t *testing.T) {
	out := keygenOut(t, "--format", "env")
	var environ []string
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		require.True(t, strings.HasPrefix(line, config.EnvPrefix), "%q is a SIDECAR_ variable", line)
		environ = append(environ, line)
	}
	require.Len(t, environ, 4)
	p := filepath.Join(t.TempDir(), "sidecar.yaml")
	require.NoError(t, os.WriteFile(p, []byte(keygenBase), 0o600))
	cfg, err := config.Load(p, append(environ, keygenEnvOn...))
	require.NoError(t, err, "keygen's variables make a valid config:\n%s", out)
	assert.Empty(t, cfg.Warnings(), "every variable names a key")
	require.Len(t, cfg.Session.Secrets, 1)
	assertFresh(t, string(cfg.Session.Secrets[0]), string(cfg.Headers.Secret), string(cfg.Admin.Token), string(cfg.LockService.Token))
}

func TestKeygenRaw(t *testing.T) {
	out := keygenOut(t, "--format", "raw")
	require.True(t, strings.HasSuffix(out, "\n"))
	assertFresh(t, strings.TrimSuffix(out, "\n"))
}

func TestKeygenTwoRunsDiffer(t *testing.T) {
	for _, format := range []string{"yaml", "env", "raw"} {
		a, b := keygenOut(t, "--format", format), keygenOut(t, "--format", format)
		assert.NotEqual(t, a, b, format)
	}
}

func TestKeygenUsage(t *testing.T) {
	for _, args := range [][]string{{"--format", "toml"}, {"extra"}, {"--bits", "128"}} {
		var out, errOut bytes.Buffer
		assert.Equal(t, 2, run(append([]string{"keygen"}, args...), &out, &errOut), "%v", args)
		assert.Empty(t, out.String(), "%v: no secret printed", args)
	}
}

// assertFresh checks that each secret is 32 random bytes in base64url
// and that no two are equal.
func assertFresh(t *testing.T, secrets ...string) {
	t.Helper()
	seen := map[string]bool{}
	for _, s := range secrets {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if assert.NoError(t, err, "%q is base64url", s) {
			assert.Len(t, b, keygen.Bytes)
		}
		assert.False(t, seen[s], "secrets differ")
		seen[s] = true
	}
}

// runCheckEnv is runCheck with extra environment variables.
func runCheckEnv(t *testing.T, yaml string, env []string) (code int, stdout, stderr string) {
	t.Helper()
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	return runCheck(t, yaml)
}

// TestKeygenAlgorithmKeyLoadsAsConfig: `sidecar keygen --algorithm`
// writes a PEM key that headers.key_files loads under that algorithm,
// its kid on stderr; HS256 and unknown names are refused.
func TestKeygenAlgorithmKeyLoadsAsConfig(t *testing.T) {
	for _, alg := range []string{"EdDSA", "ES256"} {
		t.Run(alg, func(t *testing.T) {
			var out, errOut bytes.Buffer
			require.Equal(t, 0, run([]string{"keygen", "--algorithm", alg}, &out, &errOut), errOut.String())
			assert.True(t, strings.HasPrefix(out.String(), "-----BEGIN PRIVATE KEY-----\n"), out.String())
			dir := t.TempDir()
			key := filepath.Join(dir, "key.pem")
			require.NoError(t, os.WriteFile(key, out.Bytes(), 0o600))
			p := filepath.Join(dir, "sidecar.yaml")
			cfgText := keygenBase + "session:\n  secrets: [\"" + keygen.New() + "\"]\nheaders:\n  algorithm: " + alg +
				"\n  key_files: [\"" + key + "\"]\nops:\n  listen: 127.0.0.1:19093\n"
			require.NoError(t, os.WriteFile(p, []byte(cfgText), 0o600))
			cfg, err := config.Load(p, nil)
			require.NoError(t, err)
			assert.Empty(t, cfg.Warnings())
			require.Len(t, cfg.Headers.KeyIDs(), 1)
			assert.Contains(t, errOut.String(), "kid "+cfg.Headers.KeyIDs()[0])
			assert.NotContains(t, errOut.String(), "PRIVATE KEY", "the key goes to stdout only")
		})
	}
	for _, bad := range []string{"HS256", "RS256"} {
		var out, errOut bytes.Buffer
		assert.Equal(t, 2, run([]string{"keygen", "--algorithm", bad}, &out, &errOut))
		assert.Empty(t, out.String())
		assert.Contains(t, errOut.String(), "--algorithm must be EdDSA or ES256")
	}
}
