package app

import (
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/tlstest"
)

// TestCheckReadsBackendTLSFiles: `sidecar check` (Main.Check) reads the
// files of store.redis.tls, locks.redlock_tls and proxy.upstream_tls and
// refuses what serve would, naming the key, without dialling anything.
func TestCheckReadsBackendTLSFiles(t *testing.T) {
	ca := tlstest.NewCA(t, "back-end CA")
	pair := ca.Client(t, "sidecar")
	other := ca.Client(t, "other")
	missing, junk := tlstest.BadFiles(t)
	good := config.BackendTLSConfig{CAFile: ca.CertFile, CertFile: pair.CertFile, KeyFile: pair.KeyFile, MinVersion: config.TLS12}

	base := func() *config.Config {
		c := config.Default()
		c.Upstreams = []config.Upstream{{Name: "app", URL: "https://127.0.0.1:1", Weight: 1}}
		c.Session.Secrets = []config.Secret{"a-cookie-secret-of-at-least-32-bytes"}
		c.Headers.Secret = "a-header-secret-of-at-least-32-bytes"
		c.Store.Type = config.StoreRedis
		c.Store.Redis.Addrs = []string{"rediss://127.0.0.1:1"} // never dialled by check
		c.Store.Redis.TLS = good
		c.Session.Locking = config.LockingSession
		c.Locks.RedlockAddrs = []string{"rediss://127.0.0.1:1", "rediss://127.0.0.1:2", "rediss://127.0.0.1:3"}
		c.Locks.RedlockTLS = good
		c.Proxy.UpstreamTLS = good
		return &c
	}
	tests := []struct {
		name   string
		mutate func(c *config.Config)
		want   string // "" passes
	}{
		{"all files good", func(*config.Config) {}, ""},
		{"system roots, no client certificate", func(c *config.Config) {
			c.Store.Redis.TLS = config.BackendTLSConfig{MinVersion: config.TLS13}
		}, ""},
		{"redis CA missing", func(c *config.Config) { c.Store.Redis.TLS.CAFile = missing },
			`store.redis.tls.ca_file: reading "` + missing + `": no such file or directory`},
		{"redis CA not PEM", func(c *config.Config) { c.Store.Redis.TLS.CAFile = junk },
			`store.redis.tls.ca_file: "` + junk + `" holds no PEM certificate`},
		{"redis client key missing", func(c *config.Config) { c.Store.Redis.TLS.KeyFile = missing },
			"store.redis.tls.key_file: stat " + missing + ": no such file or directory"},
		{"redis client certificate missing", func(c *config.Config) { c.Store.Redis.TLS.CertFile = missing },
			"store.redis.tls.cert_file: stat " + missing + ": no such file or directory"},
		{"redis key of another certificate", func(c *config.Config) { c.Store.Redis.TLS.KeyFile = other.KeyFile },
			`store.redis.tls.cert_file: loading the certificate "` + pair.CertFile + `" with the key "` + other.KeyFile + `": tls: private key does not match public key`},
		{"redlock CA not PEM", func(c *config.Config) { c.Locks.RedlockTLS.CAFile = junk },
			`locks.redlock_tls.ca_file: "` + junk + `" holds no PEM certificate`},
		{"redlock key not PEM", func(c *config.Config) { c.Locks.RedlockTLS.KeyFile = junk },
			`locks.redlock_tls.cert_file: loading the certificate "` + pair.CertFile + `" with the key "` + junk + `": tls: failed to find any PEM data in key input`},
		{"upstream CA missing", func(c *config.Config) { c.Proxy.UpstreamTLS.CAFile = missing },
			`proxy.upstream_tls.ca_file: reading "` + missing + `": no such file or directory`},
		{"upstream CA read even without https upstreams", func(c *config.Config) {
			c.Upstreams[0].URL = "http://127.0.0.1:1"
			c.Proxy.UpstreamTLS.CAFile = junk
		}, `proxy.upstream_tls.ca_file: "` + junk + `" holds no PEM certificate`},
		{"plain redis ignores its tls section's files", func(c *config.Config) {
			c.Store.Type = config.StoreMemory
			c.Store.Redis.TLS.CAFile = missing
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mutate(c)
			require.NoError(t, c.Validate())
			m, err := New(c, io.Discard)
			require.NoError(t, err)
			err = m.Check(t.Context())
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tt.want)
		})
	}
}
