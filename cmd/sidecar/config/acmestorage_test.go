package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// acmeOn turns ACME on for c.
func acmeOn(c *Config) { c.TLS.ACME.Domains = []string{"app.example.com"} }

func TestACMEStorageTypeRejects(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantKey string
		wantMsg string
	}{
		{"unknown type", func(c *Config) { c.TLS.ACME.StorageType = "s3" },
			"tls.acme.storage_type", `tls.acme.storage_type: "s3" is not one of file, redis`},
		{"redis without the redis store", func(c *Config) { acmeOn(c); c.TLS.ACME.StorageType = ACMEStorageRedis },
			"tls.acme.storage_type", `tls.acme.storage_type: redis keeps certificates in the session store's Redis and needs store.type redis (got "bolt")`},
		{"redis with a storage directory", func(c *Config) {
			acmeOn(c)
			c.Store.Type, c.TLS.ACME.StorageType = StoreRedis, ACMEStorageRedis
			c.TLS.ACME.Storage = "/var/lib/sidecar/certs"
		}, "tls.acme.storage", "tls.acme.storage: is the directory of file storage; leave it empty"},
		{"redis with a prefix that breaks the hash tag", func(c *Config) {
			acmeOn(c)
			c.Store.Type, c.TLS.ACME.StorageType = StoreRedis, ACMEStorageRedis
			c.Store.Redis.Prefix = "{app}:"
		}, "store.redis.prefix", `store.redis.prefix: "{app}:" may not contain '{' or '}'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			require.Error(t, err)
			assert.Equal(t, []string{tt.wantKey}, errorKeys(err))
			assert.True(t, strings.HasPrefix(err.Error(), tt.wantMsg), "error %q does not start with %q", err, tt.wantMsg)
		})
	}
}

func TestACMEStorageTypeAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
	}{
		{"file, the default, with ACME", acmeOn},
		{"redis with the redis store", func(c *Config) {
			acmeOn(c)
			c.Store.Type, c.TLS.ACME.StorageType = StoreRedis, ACMEStorageRedis
		}},
		{"redis while ACME is off is not checked further", func(c *Config) { c.TLS.ACME.StorageType = ACMEStorageRedis }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			require.NoError(t, c.Validate())
		})
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
