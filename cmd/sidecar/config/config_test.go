package config

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
)

// Secrets that pass validation in tests; none appears in any output.
const (
	testCookieSecret  = "test-cookie-secret-0123456789abcdefghij"
	testCookieSecret2 = "test-cookie-secret-2-0123456789abcdefghij"
	testHeaderSecret  = "test-header-secret-0123456789abcdefghij"
	testAdminToken    = "test-admin-token-0123456789"
	testLockToken     = "test-lock-token-0123456789"
)

// validConfig returns Default plus the keys without a default.
func validConfig() Config {
	c := Default()
	c.Upstreams = []Upstream{{Name: "app1", URL: "http://127.0.0.1:8081", Weight: 1}}
	c.Session.Secrets = []Secret{testCookieSecret}
	c.Headers.Secret = testHeaderSecret
	return c
}

func TestDefault(t *testing.T) {
	c := Default()
	tests := []struct {
		key  string
		got  any
		want any
	}{
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"upstreams", len(c.Upstreams), 0},
		{"upstreams[].weight", defaultUpstream().Weight, 1},
		{"server.read_header_timeout", c.Server.ReadHeaderTimeout, 10 * time.Second},
		{"server.idle_timeout", c.Server.IdleTimeout, 120 * time.Second},
		{"server.shutdown_timeout", c.Server.ShutdownTimeout, 30 * time.Second},
		{"server.handover_socket", c.Server.HandoverSocket, ""},
		{"server.trusted_proxies", c.Server.TrustedProxies, TrustedProxies{}},
		{"limits.max_header_bytes", c.Limits.MaxHeaderBytes, 3584},
		{"limits.max_body_bytes", c.Limits.MaxBodyBytes, int64(0)},
		{"limits.body_read_timeout", c.Limits.BodyReadTimeout, 30 * time.Second},
		{"limits.min_upload_rate", c.Limits.MinUploadRate, int64(1024)},
		{"limits.min_upload_grace", c.Limits.MinUploadGrace, 10 * time.Second},
		{"limits.buffer.memory_bytes", c.Limits.Buffer.MemoryBytes, int64(64 << 20)},
		{"limits.buffer.disk_bytes", c.Limits.Buffer.DiskBytes, int64(1 << 30)},
		{"limits.buffer.max_file_bytes", c.Limits.Buffer.MaxFileBytes, int64(128 << 20)},
		{"limits.buffer.temp_dir", c.Limits.Buffer.TempDir, os.TempDir()},
		{"proxy.dial_timeout", c.Proxy.DialTimeout, 5 * time.Second},
		{"proxy.response_header_timeout", c.Proxy.ResponseHeaderTimeout, 60 * time.Second},
		{"proxy.idle_conn_timeout", c.Proxy.IdleConnTimeout, 90 * time.Second},
		{"proxy.max_idle_conns_per_host", c.Proxy.MaxIdleConnsPerHost, 256},
		{"proxy.upgrades", c.Proxy.Upgrades, []string{"websocket"}},
		{"proxy.policy", c.Proxy.Policy, proxy.RoundRobin},
		{"proxy.error_pages.dir", c.Proxy.ErrorPages.Dir, ""},
		{"proxy.health_check.path", c.Proxy.HealthCheck.Path, ""},
		{"proxy.health_check.interval", c.Proxy.HealthCheck.Interval, 5 * time.Second},
		{"proxy.health_check.timeout", c.Proxy.HealthCheck.Timeout, 2 * time.Second},
		{"proxy.health_check.healthy_threshold", c.Proxy.HealthCheck.HealthyThreshold, 2},
		{"proxy.health_check.unhealthy_threshold", c.Proxy.HealthCheck.UnhealthyThreshold, 2},
		{"proxy.health_check.expect_status", c.Proxy.HealthCheck.ExpectStatus, 0},
		{"proxy.passive.max_fails", c.Proxy.Passive.MaxFails, 2},
		{"proxy.passive.cooldown", c.Proxy.Passive.Cooldown, 10 * time.Second},
		{"proxy.passive.base_ejection", c.Proxy.Passive.BaseEjection, time.Second},
		{"proxy.passive.max_ejection_percent", c.Proxy.Passive.MaxEjectionPercent, 50},
		{"proxy.panic_threshold", c.Proxy.PanicThreshold, 50},
		{"proxy.retry.attempts", c.Proxy.Retry.Attempts, 3},
		{"proxy.retry.timeout", c.Proxy.Retry.Timeout, 15 * time.Second},
		{"proxy.retry.buffer_bytes", c.Proxy.Retry.BufferBytes, 1048576},
		{"proxy.affinity.cookie", c.Proxy.Affinity.Cookie, ""},
		{"proxy.affinity.mode", c.Proxy.Affinity.Mode, proxy.RouteSuffix},
		{"proxy.affinity.routes", c.Proxy.Affinity.Routes, map[string]string{}},
		{"store.type", c.Store.Type, StoreBolt},
		{"store.timeout", c.Store.Timeout, 2 * time.Second},
		{"store.retry_after", c.Store.RetryAfter, 2 * time.Second},
		{"store.bolt.path", c.Store.Bolt.Path, "sidecar.db"},
		{"store.bolt.sweep_interval", c.Store.Bolt.SweepInterval, time.Minute},
		{"store.bolt.no_sync", c.Store.Bolt.NoSync, false},
		{"store.redis.addrs", c.Store.Redis.Addrs, []string{"127.0.0.1:6379"}},
		{"store.redis.master_name", c.Store.Redis.MasterName, ""},
		{"store.redis.username", c.Store.Redis.Username, ""},
		{"store.redis.password", c.Store.Redis.Password, Secret("")},
		{"store.redis.password_file", c.Store.Redis.PasswordFile, ""},
		{"store.redis.db", c.Store.Redis.DB, 0},
		{"store.redis.prefix", c.Store.Redis.Prefix, "sidecar:"},
		{"store.redis.pool_size", c.Store.Redis.PoolSize, 0},
		{"store.redis.cache", c.Store.Redis.Cache, true},
		{"store.redis.cache_max_entries", c.Store.Redis.CacheMaxEntries, 100000},
		{"store.redis.cache_max_bytes", c.Store.Redis.CacheMaxBytes, 64 << 20},
		{"store.redis.cache_staleness", c.Store.Redis.CacheStaleness, 50 * time.Millisecond},
		{"session.cookie_name", c.Session.CookieName, "sidecar_sid"},
		{"session.cookie_path", c.Session.CookiePath, "/"},
		{"session.cookie_domain", c.Session.CookieDomain, ""},
		{"session.cookie_same_site", c.Session.CookieSameSite, SameSiteLax},
		{"session.cookie_secure", c.Session.CookieSecure, CookieSecureAuto},
		{"session.cookie_persistent", c.Session.CookiePersistent, false},
		{"session.strip_cookie", c.Session.StripCookie, true},
		{"session.secrets", len(c.Session.Secrets), 0},
		{"session.secrets_file", c.Session.SecretsFile, ""},
		{"session.idle_timeout", c.Session.IdleTimeout, 30 * time.Minute},
		{"session.absolute_timeout", c.Session.AbsoluteTimeout, 12 * time.Hour},
		{"session.touch_interval", c.Session.TouchInterval, time.Minute},
		{"session.max_bytes", c.Session.MaxBytes, 2048},
		{"session.tombstone_ttl", c.Session.TombstoneTTL, 5 * time.Minute},
		{"session.locking", c.Session.Locking, LockingOff},
		{"session.lock.wait", c.Session.Lock.Wait, 5 * time.Second},
		{"session.lock.ttl", c.Session.Lock.TTL, 30 * time.Second},
		{"session.lock.on_timeout", c.Session.Lock.OnTimeout, proxy.RejectOnTimeout},
		{"session.lock.skip_paths", c.Session.Lock.SkipPaths, []string{}},
		{"locks.redlock_addrs", c.Locks.RedlockAddrs, []string{}},
		{"locks.redlock_password", c.Locks.RedlockPassword, Secret("")},
		{"locks.redlock_password_file", c.Locks.RedlockPasswordFile, ""},
		{"locks.prefix", c.Locks.Prefix, "sidecar:lock:"},
		{"headers.prefix", c.Headers.Prefix, "X-Sidecar-"},
		{"headers.algorithm", c.Headers.Algorithm, sessions.HS256},
		{"headers.key_files", c.Headers.KeyFiles, []string{}},
		{"headers.secret", c.Headers.Secret, Secret("")},
		{"headers.secret_file", c.Headers.SecretFile, ""},
		{"headers.issuer", c.Headers.Issuer, "sidecar"},
		{"headers.audience", c.Headers.Audience, "app"},
		{"headers.ttl", c.Headers.TTL, 60 * time.Second},
		{"headers.max_bytes", c.Headers.MaxBytes, 4096},
		{"headers.allow_underscores", c.Headers.AllowUnderscores, false},
		{"admin.listen", c.Admin.Listen, ""},
		{"admin.token", c.Admin.Token, Secret("")},
		{"admin.token_file", c.Admin.TokenFile, ""},
		{"admin.allow_remote", c.Admin.AllowRemote, false},
		{"admin.hosts", len(c.Admin.Hosts), 0},
		{"lock_service.listen", c.LockService.Listen, ""},
		{"lock_service.token", c.LockService.Token, Secret("")},
		{"lock_service.token_file", c.LockService.TokenFile, ""},
		{"lock_service.max_ttl", c.LockService.MaxTTL, 5 * time.Minute},
		{"lock_service.max_wait", c.LockService.MaxWait, 30 * time.Second},
		{"log.level", c.Log.Level, LogInfo},
		{"log.format", c.Log.Format, LogJSON},
		{"log.access", c.Log.Access, proxy.AccessJSON},
		{"auth_failures.max", c.AuthFailures.Max, 10},
		{"auth_failures.window", c.AuthFailures.Window, time.Minute},
		{"auth_failures.lockout", c.AuthFailures.Lockout, time.Minute},
		{"auth_failures.log_burst", c.AuthFailures.LogBurst, 5},
		{"tls.cert_file", c.TLS.CertFile, ""},
		{"tls.key_file", c.TLS.KeyFile, ""},
		{"tls.acme.domains", len(c.TLS.ACME.Domains), 0},
		{"tls.acme.email", c.TLS.ACME.Email, ""},
		{"tls.acme.ca", c.TLS.ACME.CA, ""},
		{"tls.acme.ca_root", c.TLS.ACME.CARoot, ""},
		{"tls.acme.storage", c.TLS.ACME.Storage, "sidecar-acme"},
		{"tls.min_version", c.TLS.MinVersion, TLS12},
		{"tls.http_listen", c.TLS.HTTPListen, ""},
		{"tls.https_port", c.TLS.HTTPSPort, 0},
		{"tls.hsts", c.TLS.HSTS, time.Duration(0)},
		{"tls.acme.challenges", c.TLS.ACME.Challenges, []ACMEChallenge{ChallengeHTTP01, ChallengeTLSALPN01}},
		{"tls.acme.http_port", c.TLS.ACME.HTTPPort, 0},
		{"tls.acme.tls_alpn_port", c.TLS.ACME.TLSALPNPort, 0},
		{"tls.acme.storage_type", c.TLS.ACME.StorageType, ACMEStorageFile},
		{"ops.listen", c.Ops.Listen, ""},
		{"ops.readiness_includes_store", c.Ops.ReadinessIncludesStore, false},
		{"ops.needed_by", c.Ops.NeededBy, []string(nil)},
		{"ops.pprof", c.Ops.Pprof, false},
		{"runtime.gc_min_heap_bytes", c.Runtime.GCMinHeapBytes, int64(32 << 20)},
	}
	for _, section := range []struct {
		key string
		b   BackendTLSConfig
	}{{"proxy.upstream_tls", c.Proxy.UpstreamTLS}, {"store.redis.tls", c.Store.Redis.TLS}, {"locks.redlock_tls", c.Locks.RedlockTLS}} {
		b := section.b
		for _, k := range []struct {
			key       string
			got, want any
		}{
			{"ca_file", b.CAFile, ""}, {"cert_file", b.CertFile, ""}, {"key_file", b.KeyFile, ""},
			{"server_name", b.ServerName, ""}, {"min_version", b.MinVersion, TLS12},
			{"insecure_skip_verify", b.InsecureSkipVerify, false},
		} {
			tests = append(tests, struct {
				key  string
				got  any
				want any
			}{section.key + "." + k.key, k.got, k.want})
		}
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.got)
		})
	}

	t.Run("every key is covered", func(t *testing.T) {
		covered := make(map[string]bool)
		for _, tt := range tests {
			covered[tt.key] = true
		}
		for _, key := range leafKeys(configType(), "") {
			if key == "upstreams[].name" || key == "upstreams[].url" {
				continue // no default: required
			}
			assert.True(t, covered[key], "no default test for %s", key)
		}
	})
}

func TestDefaultReturnsFreshValues(t *testing.T) {
	a := Default()
	a.Store.Redis.Addrs[0] = "changed:1"
	a.Proxy.Affinity.Routes["node1"] = "app1"
	assert.Equal(t, []string{"127.0.0.1:6379"}, Default().Store.Redis.Addrs)
	assert.Empty(t, Default().Proxy.Affinity.Routes)
}

func TestDefaultNeedsOnlyUpstreamsAndSecrets(t *testing.T) {
	require.NoError(t, validConfig().Validate())
	assert.False(t, validConfig().UsesExampleSecrets())
}

func TestUsesExampleSecrets(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		want   bool
	}{
		{"own secrets", func(*Config) {}, false},
		{"example cookie secret first", func(c *Config) { c.Session.Secrets = []Secret{exampleCookieSecret} }, true},
		{"example cookie secret for verification only", func(c *Config) {
			c.Session.Secrets = []Secret{testCookieSecret, exampleCookieSecret}
		}, true},
		{"example header secret", func(c *Config) { c.Headers.Secret = exampleHeaderSecret }, true},
		{"example admin token", func(c *Config) { c.Admin.Token = exampleAdminToken }, true},
		{"example lock service token", func(c *Config) { c.LockService.Token = exampleLockToken }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			assert.Equal(t, tt.want, c.UsesExampleSecrets())
		})
	}
}

func TestHelpers(t *testing.T) {
	c := validConfig()
	c.Session.Secrets = []Secret{testCookieSecret, testCookieSecret2}

	t.Run("SecretBytes keeps order", func(t *testing.T) {
		assert.Equal(t, [][]byte{[]byte(testCookieSecret), []byte(testCookieSecret2)}, c.Session.SecretBytes())
	})
	t.Run("ParseURL", func(t *testing.T) {
		u, err := c.Upstreams[0].ParseURL()
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1:8081", u.Host)
	})
	t.Run("Enabled", func(t *testing.T) {
		assert.False(t, c.Admin.Enabled())
		assert.False(t, c.TLS.ACME.Enabled())
		c.Admin.Listen = "127.0.0.1:9090"
		c.TLS.ACME.Domains = []string{"app.example.com"}
		assert.True(t, c.Admin.Enabled())
		assert.True(t, c.TLS.ACME.Enabled())
	})
	t.Run("pool features", func(t *testing.T) {
		c := validConfig()
		assert.False(t, c.Proxy.HealthCheck.Enabled(), "off by default")
		assert.True(t, c.Proxy.Passive.Enabled(), "on by default")
		assert.False(t, c.Proxy.Affinity.Enabled(), "off by default")
		assert.False(t, c.Server.HandoverEnabled(), "off by default")
		c.Proxy.HealthCheck.Path = "/healthz"
		c.Proxy.Passive.MaxFails = 0
		c.Proxy.Affinity.Cookie = "JSESSIONID"
		c.Server.HandoverSocket = "/run/sidecar/handover.sock"
		assert.True(t, c.Proxy.HealthCheck.Enabled())
		assert.False(t, c.Proxy.Passive.Enabled())
		assert.True(t, c.Proxy.Affinity.Enabled())
		assert.True(t, c.Server.HandoverEnabled())
	})
	t.Run("SameSite.HTTP", func(t *testing.T) {
		assert.Equal(t, http.SameSiteLaxMode, SameSiteLax.HTTP())
		assert.Equal(t, http.SameSiteStrictMode, SameSiteStrict.HTTP())
		assert.Equal(t, http.SameSiteNoneMode, SameSiteNone.HTTP())
		assert.Equal(t, http.SameSiteDefaultMode, SameSite("bogus").HTTP())
	})
	t.Run("EnvName", func(t *testing.T) {
		assert.Equal(t, "SIDECAR_SESSION__IDLE_TIMEOUT", EnvName("session.idle_timeout"))
		assert.Equal(t, "SIDECAR_LISTEN", EnvName("listen"))
	})
}

func TestEnumValidate(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wantErr string
	}{
		{"store bolt", StoreBolt.Validate(), ""},
		{"store memory", StoreMemory.Validate(), ""},
		{"store redis", StoreRedis.Validate(), ""},
		{"store mongo", StoreType("mongo").Validate(), `"mongo" is not one of bolt, memory, redis`},
		{"same-site strict", SameSiteStrict.Validate(), ""},
		{"same-site Lax", SameSite("Lax").Validate(), `"Lax" is not one of lax, strict, none`},
		{"secure always", CookieSecureAlways.Validate(), ""},
		{"secure never", CookieSecure("never").Validate(), `"never" is not one of auto, always`},
		{"locking session", LockingSession.Validate(), ""},
		{"locking empty", Locking("").Validate(), `"" is not one of off, session`},
		{"lock timeout reject", proxy.RejectOnTimeout.Validate(), ""},
		{"lock timeout proceed", proxy.ProceedOnTimeout.Validate(), ""},
		{"lock timeout wait", proxy.OnLockTimeout("wait").Validate(), `"wait" is not one of reject, proceed`},
		{"level warn", LogWarn.Validate(), ""},
		{"level trace", LogLevel("trace").Validate(), `"trace" is not one of debug, info, warn, error`},
		{"format console", LogConsole.Validate(), ""},
		{"format text", LogFormat("text").Validate(), `"text" is not one of json, console`},
		{"policy round_robin", proxy.RoundRobin.Validate(), ""},
		{"policy least_conn", proxy.LeastConn.Validate(), ""},
		{"policy random", proxy.Policy("random").Validate(), `"random" is not one of round_robin, least_conn`},
		{"policy empty", proxy.Policy("").Validate(), `"" is not one of round_robin, least_conn`},
		{"affinity route_suffix", proxy.RouteSuffix.Validate(), ""},
		{"affinity map", proxy.ValueMap.Validate(), ""},
		{"affinity jvmroute", proxy.AffinityMode("jvmRoute").Validate(), `"jvmRoute" is not one of route_suffix, map`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr == "" {
				assert.NoError(t, tt.err)
				return
			}
			assert.EqualError(t, tt.err, tt.wantErr)
		})
	}
}
