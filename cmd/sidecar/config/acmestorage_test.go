package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// acmeRedisStorage returns a mutation that turns ACME on with Redis
// storage on the Redis store, then applies more.
func acmeRedisStorage(more func(c *Config)) func(c *Config) {
	return func(c *Config) {
		c.TLS.ACME.Domains = []string{"app.example.com"}
		c.Store.Type, c.TLS.ACME.StorageType = StoreRedis, ACMEStorageRedis
		more(c)
	}
}

func TestACMEStorageTypeFromEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sidecar.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
upstreams: [{name: app1, url: "http://127.0.0.1:8081"}]
store: {type: redis}
tls: {acme: {domains: [app.example.com]}}
`), 0o600))
	env := []string{
		"SIDECAR_SESSION__SECRETS=" + testCookieSecret,
		"SIDECAR_HEADERS__SECRET=" + testHeaderSecret,
	}
	c, err := Load(path, env)
	require.NoError(t, err)
	assert.Equal(t, ACMEStorageFile, c.TLS.ACME.StorageType)
	c, err = Load(path, append(env, "SIDECAR_TLS__ACME__STORAGE_TYPE=redis"))
	require.NoError(t, err)
	assert.Equal(t, ACMEStorageRedis, c.TLS.ACME.StorageType)
}
