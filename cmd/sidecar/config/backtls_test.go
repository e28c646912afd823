package config

import (
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// redisStore puts c on a Redis store at addrs.
func redisStore(c *Config, addrs ...string) {
	c.Store.Type = StoreRedis
	c.Store.Redis.Addrs = addrs
}

// redlock turns on session locking over Redlock masters at addrs.
func redlock(c *Config, addrs ...string) {
	c.Session.Locking = LockingSession
	c.Locks.RedlockAddrs = addrs
}

func TestValidateBackendTLS(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantKey string // "": accepted
		wantMsg string // the start of the error text, "key: message"
	}{
		{"redis tls without rediss://", func(c *Config) { redisStore(c, "r:6379"); c.Store.Redis.TLS.CAFile = "/ca.pem" },
			"store.redis.tls", "store.redis.tls: is set, but no store.redis.addrs entry starts with rediss://; write the addresses as rediss://host:port to connect over TLS"},
		{"redis tls min_version without rediss://", func(c *Config) { redisStore(c, "r:6379"); c.Store.Redis.TLS.MinVersion = TLS13 },
			"store.redis.tls", "store.redis.tls: is set, but no store.redis.addrs entry starts with rediss://"},
		{"rediss and plain mixed", func(c *Config) { redisStore(c, "rediss://a:1", "b:2", "rediss://c:3") },
			"store.redis.addrs", "store.redis.addrs: mixes rediss:// and plain addresses; the servers of one deployment all speak TLS or none does"},
		{"redis:// refused", func(c *Config) { redisStore(c, "redis://a:6379") },
			"store.redis.addrs[0]", `store.redis.addrs[0]: "redis://a:6379" must be host:port, or rediss://host:port for TLS; the user name, password and database have keys of their own`},
		{"a URL with a password is not repeated", func(c *Config) { redisStore(c, "rediss://default:hunter2@a:6379") },
			"store.redis.addrs[0]", "store.redis.addrs[0]: the address must be host:port, or rediss://host:port for TLS"},
		{"rediss with a database", func(c *Config) { redisStore(c, "rediss://a:6379/2") },
			"store.redis.addrs[0]", `store.redis.addrs[0]: "a:6379/2": port must be a number from 0 to 65535`},
		{"rediss without host", func(c *Config) { redisStore(c, "rediss://:6379") },
			"store.redis.addrs[0]", `store.redis.addrs[0]: "rediss://:6379" has no host`},
		{"redis cert without key", func(c *Config) { redisStore(c, "rediss://a:1"); c.Store.Redis.TLS.CertFile = "/c.pem" },
			"store.redis.tls.key_file", "store.redis.tls.key_file: is required when store.redis.tls.cert_file is set"},
		{"redis key without cert", func(c *Config) { redisStore(c, "rediss://a:1"); c.Store.Redis.TLS.KeyFile = "/k.pem" },
			"store.redis.tls.cert_file", "store.redis.tls.cert_file: is required when store.redis.tls.key_file is set"},
		{"redis min_version", func(c *Config) { redisStore(c, "rediss://a:1"); c.Store.Redis.TLS.MinVersion = "1.1" },
			"store.redis.tls.min_version", `store.redis.tls.min_version: "1.1" is not one of 1.2, 1.3`},
		{"redis server_name with a port", func(c *Config) { redisStore(c, "rediss://a:1"); c.Store.Redis.TLS.ServerName = "r.example:6379" },
			"store.redis.tls.server_name", `store.redis.tls.server_name: "r.example:6379" is not a host name`},

		{"redlock tls without rediss://", func(c *Config) { redlock(c, "a:1", "b:2", "c:3"); c.Locks.RedlockTLS.CAFile = "/ca.pem" },
			"locks.redlock_tls", "locks.redlock_tls: is set, but no locks.redlock_addrs entry starts with rediss://"},
		{"redlock mixed", func(c *Config) { redlock(c, "rediss://a:1", "b:2", "rediss://c:3") },
			"locks.redlock_addrs", "locks.redlock_addrs: mixes rediss:// and plain addresses"},
		{"redlock same master with and without the scheme's case", func(c *Config) { redlock(c, "rediss://a:1", "REDISS://b:2", "rediss://A:1") },
			"locks.redlock_addrs[2]", `locks.redlock_addrs[2]: "rediss://A:1" is the same master as locks.redlock_addrs[0]`},
		{"redlock key without cert", func(c *Config) {
			redlock(c, "rediss://a:1", "rediss://b:2", "rediss://c:3")
			c.Locks.RedlockTLS.KeyFile = "/k.pem"
		},
			"locks.redlock_tls.cert_file", "locks.redlock_tls.cert_file: is required when locks.redlock_tls.key_file is set"},

		{"upstream cert without key", func(c *Config) { c.Proxy.UpstreamTLS.CertFile = "/c.pem" },
			"proxy.upstream_tls.key_file", "proxy.upstream_tls.key_file: is required when proxy.upstream_tls.cert_file is set"},
		{"upstream min_version", func(c *Config) { c.Proxy.UpstreamTLS.MinVersion = "" },
			"proxy.upstream_tls.min_version", `proxy.upstream_tls.min_version: "" is not one of 1.2, 1.3`},
		{"upstream server_name wildcard", func(c *Config) { c.Proxy.UpstreamTLS.ServerName = "*.internal" },
			"proxy.upstream_tls.server_name", `proxy.upstream_tls.server_name: "*.internal": wildcard names are not supported`},

		// Accepted: wantKey "".
		{"rediss alone: system roots", func(c *Config) { redisStore(c, "rediss://master.cache.amazonaws.com:6379") }, "", ""},
		{"rediss any case", func(c *Config) { redisStore(c, "REDISS://a:1", "Rediss://b:2") }, "", ""},
		{"rediss cluster with a CA and a client certificate", func(c *Config) {
			redisStore(c, "rediss://a:1", "rediss://b:2")
			c.Store.Redis.TLS = BackendTLSConfig{CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem", ServerName: "redis.internal", MinVersion: TLS13}
		}, "", ""},
		{"an IP as server name", func(c *Config) { redisStore(c, "rediss://a:1"); c.Store.Redis.TLS.ServerName = "::1" }, "", ""},
		{"redis tls ignored with another store", func(c *Config) { c.Store.Redis.TLS.CAFile = "/ca.pem" }, "", ""},
		{"redlock tls ignored without locks", func(c *Config) { c.Locks.RedlockTLS.CertFile = "/c.pem" }, "", ""},
		{"redlock over tls", func(c *Config) {
			redlock(c, "rediss://a:1", "rediss://b:2", "rediss://c:3")
			c.Locks.RedlockTLS.CAFile = "/ca.pem"
		}, "", ""},
		{"upstream tls without https upstreams (a reload may add one)", func(c *Config) { c.Proxy.UpstreamTLS.CAFile = "/ca.pem" }, "", ""},
		{"upstream mutual tls", func(c *Config) {
			c.Upstreams[0].URL = "https://10.0.0.5:8443"
			c.Proxy.UpstreamTLS = BackendTLSConfig{CAFile: "/ca.pem", CertFile: "/c.pem", KeyFile: "/k.pem", ServerName: "app.internal", MinVersion: TLS12}
		}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantKey == "" {
				assert.NoError(t, err)
				return
			}
			assert.Equal(t, []string{tt.wantKey}, errorKeys(err))
			assert.True(t, err != nil && strings.HasPrefix(err.Error(), tt.wantMsg), "error %v does not start with %q", err, tt.wantMsg)
			assert.NotContains(t, fmt.Sprint(err), "hunter2")
		})
	}
}

func TestRedisHostPorts(t *testing.T) {
	r := RedisConfig{Addrs: []string{"rediss://a:1", "REDISS://b:2"}}
	assert.Equal(t, []string{"a:1", "b:2"}, r.HostPorts())
	assert.True(t, r.UseTLS())
	r.Addrs = []string{"a:1"}
	assert.Equal(t, []string{"a:1"}, r.HostPorts())
	assert.False(t, r.UseTLS())
	assert.False(t, RedisConfig{}.UseTLS())

	l := LocksConfig{RedlockAddrs: []string{"rediss://a:1", "rediss://b:2", "rediss://c:3"}}
	assert.Equal(t, []string{"a:1", "b:2", "c:3"}, l.RedlockHostPorts())
	assert.True(t, l.RedlockUseTLS())
}

func TestWarningsBackendTLS(t *testing.T) {
	c := validConfig()
	c.Proxy.UpstreamTLS.InsecureSkipVerify = true
	assert.Equal(t, []string{"proxy.upstream_tls is set, but no upstream URL is https://, so it is not used (until a reload adds one)"}, c.Warnings(),
		"nothing is insecure while no upstream is https://")

	c.Upstreams[0].URL = "https://app.internal"
	redisStore(&c, "rediss://r:6379")
	c.Store.Redis.TLS.InsecureSkipVerify = true
	redlock(&c, "a:1", "b:2", "c:3")
	c.Locks.RedlockTLS.InsecureSkipVerify = true // unused: plain addresses
	assert.Equal(t, []string{
		"store.redis.tls.insecure_skip_verify is true: Sidecar does not verify the certificate of the store's Redis (sessions), " +
			"so anyone on the network path can read and change that traffic; trust the server's CA with store.redis.tls.ca_file instead",
		"proxy.upstream_tls.insecure_skip_verify is true: Sidecar does not verify the certificate of the https:// upstreams, " +
			"so anyone on the network path can read and change that traffic; trust the server's CA with proxy.upstream_tls.ca_file instead",
	}, c.Warnings())
}

func TestLoadBackendTLS(t *testing.T) {
	yamlDoc := merge(t, minimalYAML, `
store:
  type: redis
  redis:
    addrs: ["rediss://redis.internal:6380"]
    tls:
      ca_file: /etc/sidecar/redis-ca.pem
      cert_file: /etc/sidecar/redis-client.pem
      key_file: /etc/sidecar/redis-client-key.pem
      min_version: 1.3
proxy:
  upstream_tls:
    server_name: app.internal
`)
	cfg, err := Load(writeFile(t, "sidecar.yaml", yamlDoc), []string{"SIDECAR_PROXY__UPSTREAM_TLS__MIN_VERSION=1.3"})
	require.NoError(t, err)
	assert.Equal(t, BackendTLSConfig{
		CAFile: "/etc/sidecar/redis-ca.pem", CertFile: "/etc/sidecar/redis-client.pem", KeyFile: "/etc/sidecar/redis-client-key.pem",
		MinVersion: TLS13,
	}, cfg.Store.Redis.TLS, "an unquoted 1.3 is the version 1.3")
	assert.Equal(t, BackendTLSConfig{ServerName: "app.internal", MinVersion: TLS13}, cfg.Proxy.UpstreamTLS)
	assert.Equal(t, []string{"redis.internal:6380"}, cfg.Store.Redis.HostPorts())
	assert.Equal(t, uint16(0x0304), cfg.Store.Redis.TLS.MinVersion.TLS())

	_, err = Load(writeFile(t, "bad.yaml", merge(t, minimalYAML, "proxy:\n  upstream_tls:\n    min_version: 1.25\n")), nil)
	assert.EqualError(t, err, `proxy.upstream_tls.min_version: "1.25" is not one of 1.2, 1.3`)
}

// TestBackendTLSDocExamplesLoad loads every YAML example of
// docs/backend-tls.md on top of a minimal configuration.
func TestBackendTLSDocExamplesLoad(t *testing.T) {
	b, err := os.ReadFile("../../../docs/backend-tls.md")
	require.NoError(t, err)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	require.NotEmpty(t, blocks)
	for i, m := range blocks {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			dir := t.TempDir()
			// The password files the examples name, so that Load reads
			// something.
			doc := strings.ReplaceAll(m[1], "/run/secrets/", dir+"/")
			for _, f := range regexp.MustCompile(`password_file: (\S+)`).FindAllStringSubmatch(doc, -1) {
				require.NoError(t, os.WriteFile(f[1], []byte("pw\n"), 0o600))
			}
			_, err := Load(writeFile(t, "sidecar.yaml", merge(t, minimalYAML, doc)), nil)
			assert.NoError(t, err, "example:\n%s", m[1])
		})
	}
}
