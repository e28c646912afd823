package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

// examplePath is the example configuration shipped at the repository root.
const examplePath = "../../../config.example.yaml"

func ExampleLoad() {
	dir, err := os.MkdirTemp("", "sidecar-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sidecar.yaml")
	err = os.WriteFile(path, []byte(`
upstreams:
  - name: app1
    url: "http://127.0.0.1:8081"
session:
  secrets: ["a-cookie-secret-of-at-least-32-bytes"]
  idle_timeout: 20m
`), 0o600)
	if err != nil {
		panic(err)
	}

	// In production: config.Load(path, os.Environ()).
	cfg, err := config.Load(path, []string{
		"SIDECAR_SESSION__IDLE_TIMEOUT=45m",
		"SIDECAR_HEADERS__SECRET=a-header-secret-of-at-least-32-bytes",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Session.IdleTimeout, cfg.Store.Type, cfg.Upstreams[0].Name)
	fmt.Println(cfg.Headers.Secret)

	_, err = config.Load(path, []string{"SIDECAR_SESSION__IDLE_TIMEOUT=30x"})
	fmt.Println(err)
	// Output:
	// 45m0s bolt app1
	// [redacted]
	// session.idle_timeout: invalid duration "30x" (from environment variable SIDECAR_SESSION__IDLE_TIMEOUT)
}

func TestExampleFileLoadsAsShipped(t *testing.T) {
	cfg, err := config.Load(examplePath, nil)
	require.NoError(t, err)

	assert.Equal(t, "127.0.0.1:8080", cfg.Listen)
	assert.Equal(t, []config.Upstream{{Name: "app1", URL: "http://127.0.0.1:8081", Weight: 1}}, cfg.Upstreams)
	assert.Equal(t, config.StoreBolt, cfg.Store.Type)
	assert.Equal(t, "sidecar.db", cfg.Store.Bolt.Path)
	assert.False(t, cfg.Admin.Enabled(), "admin is disabled as shipped")
	assert.Empty(t, cfg.TLS.CertFile, "plain HTTP as shipped")
	assert.False(t, cfg.TLS.ACME.Enabled(), "plain HTTP as shipped")
	assert.True(t, cfg.UsesExampleSecrets(), "the serve command warns about these")

	t.Run("matches the defaults except for the required keys", func(t *testing.T) {
		want := config.Default()
		want.Upstreams = cfg.Upstreams
		want.Session.Secrets = cfg.Session.Secrets
		want.Headers.Secret = cfg.Headers.Secret
		assert.Equal(t, &want, cfg, "a value in config.example.yaml differs from Default()")
	})

	t.Run("environment overrides it", func(t *testing.T) {
		cfg, err := config.Load(examplePath, []string{
			"SIDECAR_STORE__TYPE=redis",
			"SIDECAR_SESSION__SECRETS=a-cookie-secret-of-at-least-32-bytes",
			"SIDECAR_HEADERS__SECRET=a-header-secret-of-at-least-32-bytes",
		})
		require.NoError(t, err)
		assert.Equal(t, config.StoreRedis, cfg.Store.Type)
		assert.False(t, cfg.UsesExampleSecrets())
	})
}

// TestExampleFileDocumentsEveryKey checks that every key appears in
// config.example.yaml, set or in a comment; the keys of an upstreams
// entry included.
func TestExampleFileDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile(examplePath)
	require.NoError(t, err)
	text := string(b)

	c := config.Default()
	c.Upstreams = make([]config.Upstream, 1)
	for _, line := range strings.Split(c.String(), "\n") {
		key, _, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		// The last element, without list indices, must appear as "name:".
		parts := strings.Split(key, ".")
		name := parts[len(parts)-1]
		t.Run(key, func(t *testing.T) {
			re := regexp.MustCompile(`(?m)^\s*(#\s*)?` + regexp.QuoteMeta(name) + `:`)
			assert.Regexp(t, re, text, "%s is not in config.example.yaml", key)
		})
	}
}

// TestExampleFileCommentedTLSIsValid uncomments each commented "tls:"
// block of config.example.yaml in turn and loads the result.
func TestExampleFileCommentedTLSIsValid(t *testing.T) {
	b, err := os.ReadFile(examplePath)
	require.NoError(t, err)
	lines := strings.Split(string(b), "\n")

	var blocks []string
	for i := 0; i < len(lines); i++ {
		if lines[i] != "# tls:" {
			continue
		}
		block := []string{"tls:"}
		for i++; i < len(lines) && strings.HasPrefix(lines[i], "#   "); i++ {
			block = append(block, strings.TrimPrefix(lines[i], "# "))
		}
		blocks = append(blocks, strings.Join(block, "\n"))
	}
	require.Len(t, blocks, 2, "a static-certificate block and an ACME block")

	for i, block := range blocks {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sidecar.yaml")
			require.NoError(t, os.WriteFile(path, append(b, []byte("\n"+block+"\n")...), 0o600))
			cfg, err := config.Load(path, nil)
			require.NoError(t, err)
			assert.True(t, cfg.TLS.CertFile != "" || cfg.TLS.ACME.Enabled(), "TLS on")
		})
	}
}

// TestExampleFileLockServiceExampleIsValid enables the lock service with
// the values the example file suggests in its comment, and session
// locking, on the shipped file.
func TestExampleFileLockServiceExampleIsValid(t *testing.T) {
	cfg, err := config.Load(examplePath, []string{
		"SIDECAR_SESSION__LOCKING=session",
		"SIDECAR_LOCK_SERVICE__LISTEN=10.0.0.5:9091",
		"SIDECAR_LOCK_SERVICE__TOKEN=example-lock-token-change-me",
	})
	require.NoError(t, err)
	assert.True(t, cfg.LockService.Enabled())
	assert.Equal(t, config.LockScopeProcess, cfg.LockScope(), "bolt, no redlock_addrs")
	assert.True(t, cfg.UsesExampleSecrets(), "the serve command warns about the example token")
}
