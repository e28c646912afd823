package config

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/proxy"
)

// reloadCase changes next, a copy of the running config, and names the
// keys that then apply on SIGHUP and those that need a restart.
type reloadCase struct {
	name        string
	mutate      func(c *Config)
	applied     []string
	needRestart []string
}

// reloadCases are the cases of both TestReloadDiff and TestReload.
func reloadCases() []reloadCase {
	return []reloadCase{
		{"nothing changed", func(*Config) {}, nil, nil},

		// Applied on SIGHUP.
		{"upstream weight", func(c *Config) { c.Upstreams[0].Weight = 3 }, []string{"upstreams[0].weight"}, nil},
		{"upstream url", func(c *Config) { c.Upstreams[0].URL = "http://127.0.0.1:9091" }, []string{"upstreams[0].url"}, nil},
		{"upstream added", func(c *Config) {
			c.Upstreams = append(c.Upstreams, Upstream{Name: "app2", URL: "http://127.0.0.1:8082", Weight: 1})
		}, []string{"upstreams[1]"}, nil},
		{"upstream removed", func(c *Config) { c.Upstreams = c.Upstreams[:0] }, []string{"upstreams[0]"}, nil},
		{"policy", func(c *Config) { c.Proxy.Policy = proxy.LeastConn }, []string{"proxy.policy"}, nil},
		{"health check", func(c *Config) {
			c.Proxy.HealthCheck.Path = "/healthz"
			c.Proxy.HealthCheck.ExpectStatus = 204
		}, []string{"proxy.health_check.path", "proxy.health_check.expect_status"}, nil},
		{"passive", func(c *Config) { c.Proxy.Passive.Cooldown = time.Minute }, []string{"proxy.passive.cooldown"}, nil},
		{"outlier detection", func(c *Config) {
			c.Proxy.Passive.BaseEjection = 2 * time.Second
			c.Proxy.Passive.MaxEjectionPercent = 30
			c.Proxy.PanicThreshold = 20
		}, []string{"proxy.panic_threshold", "proxy.passive.base_ejection", "proxy.passive.max_ejection_percent"}, nil},
		{"retry", func(c *Config) { c.Proxy.Retry.Attempts = 1 }, []string{"proxy.retry.attempts"}, nil},
		{"affinity cookie and mode", func(c *Config) {
			c.Proxy.Affinity.Cookie = "JSESSIONID"
			c.Proxy.Affinity.Mode = proxy.ValueMap
		}, []string{"proxy.affinity.cookie", "proxy.affinity.mode"}, nil},
		{"routes added, changed and removed", func(c *Config) {
			c.Proxy.Affinity.Routes = map[string]string{"b": "app2", "d": "app1"}
		}, []string{"proxy.affinity.routes.a", "proxy.affinity.routes.b", "proxy.affinity.routes.d"}, nil},
		{"log level", func(c *Config) { c.Log.Level = LogDebug }, []string{"log.level"}, nil},
		{"error pages", func(c *Config) { c.Proxy.ErrorPages.Dir = "/etc/sidecar/pages" }, []string{"proxy.error_pages.dir"}, nil},
		{"session secrets rotated, by name", func(c *Config) { c.Session.Secrets = []Secret{testCookieSecret2, testCookieSecret} },
			[]string{"session.secrets"}, nil},
		{"header secret, by name", func(c *Config) { c.Headers.Secret = testCookieSecret2 }, []string{"headers.secret"}, nil},
		{"secrets moved to files", func(c *Config) {
			c.Session.SecretsFile = "/run/secrets/cookie"
			c.Headers.SecretFile = "/run/secrets/header"
		}, []string{"session.secrets_file", "headers.secret_file"}, nil},

		// Restart needed.
		{"listen", func(c *Config) { c.Listen = ":9000" }, nil, []string{"listen"}},
		{"handover socket", func(c *Config) { c.Server.HandoverSocket = "/run/s.sock" }, nil, []string{"server.handover_socket"}},
		{"server timeout", func(c *Config) { c.Server.IdleTimeout = time.Minute }, nil, []string{"server.idle_timeout"}},
		{"proxy timeouts and pool size", func(c *Config) {
			c.Proxy.DialTimeout = time.Second
			c.Proxy.MaxIdleConnsPerHost = 16
		}, nil, []string{"proxy.dial_timeout", "proxy.max_idle_conns_per_host"}},
		{"store", func(c *Config) {
			c.Store.Type = StoreRedis
			c.Store.Redis.Addrs = []string{"10.0.0.1:6379"}
		}, nil, []string{"store.type", "store.redis.addrs"}},
		{"admin", func(c *Config) {
			c.Admin.Listen = "127.0.0.1:9090"
			c.Admin.Token = testAdminToken
		}, nil, []string{"admin.listen", "admin.token"}},
		{"redis password, by name", func(c *Config) { c.Store.Redis.Password = "changed" }, nil, []string{"store.redis.password"}},
		{"log format", func(c *Config) { c.Log.Format = LogConsole }, nil, []string{"log.format"}},
		{"access log", func(c *Config) { c.Log.Access = proxy.AccessCombined }, nil, []string{"log.access"}},
		{"auth failures", func(c *Config) { c.AuthFailures.Max = 3 }, nil, []string{"auth_failures.max"}},
		{"session locking and its lock", func(c *Config) {
			c.Session.Locking = LockingSession
			c.Session.Lock = SessionLockConfig{Wait: time.Second, TTL: time.Minute, OnTimeout: proxy.ProceedOnTimeout, SkipPaths: []string{"/poll"}}
		}, nil, []string{"session.locking", "session.lock.wait", "session.lock.ttl", "session.lock.on_timeout", "session.lock.skip_paths"}},
		{"locks", func(c *Config) {
			c.Locks = LocksConfig{RedlockAddrs: []string{"a:1", "b:2", "c:3"}, RedlockPassword: "changed", RedlockPasswordFile: "/run/pw",
				RedlockTLS: defaultBackendTLS(), Prefix: "x:"}
		}, nil, []string{"locks.redlock_addrs", "locks.redlock_password", "locks.redlock_password_file", "locks.prefix"}},
		{"back-end tls", func(c *Config) {
			c.Store.Redis.TLS.CAFile = "/etc/ca.pem"
			c.Locks.RedlockTLS.MinVersion = TLS13
			c.Proxy.UpstreamTLS.ServerName = "app.internal"
		}, nil, []string{"proxy.upstream_tls.server_name", "store.redis.tls.ca_file", "locks.redlock_tls.min_version"}},
		{"lock service", func(c *Config) {
			c.LockService = LockServiceConfig{Listen: "10.0.0.5:9091", Token: testLockToken, TokenFile: "/run/t", MaxTTL: time.Minute, MaxWait: time.Second}
		}, nil, []string{"lock_service.listen", "lock_service.token", "lock_service.token_file", "lock_service.max_ttl", "lock_service.max_wait"}},
		{"tls", func(c *Config) { c.TLS.ACME.Domains = []string{"app.example.com"} }, nil, []string{"tls.acme.domains"}},

		// Both, in the order of the file.
		{"mixed", func(c *Config) {
			c.Log.Level = LogWarn
			c.Log.Format = LogConsole
			c.Upstreams[0].Weight = 2
			c.Listen = ":9000"
			c.Proxy.Retry.Timeout = time.Minute
			c.Proxy.ResponseHeaderTimeout = 30 * time.Second
		}, []string{"upstreams[0].weight", "proxy.retry.timeout", "log.level"}, []string{"listen", "proxy.response_header_timeout", "log.format"}},
	}
}

// reloadConfigs returns the running config of reloadCases and the next
// one, changed by mutate.
func reloadConfigs(mutate func(c *Config)) (old, next Config) {
	old = validConfig()
	old.Proxy.Affinity.Routes = map[string]string{"a": "app1", "b": "app1"}
	next = validConfig()
	next.Proxy.Affinity.Routes = map[string]string{"a": "app1", "b": "app1"}
	mutate(&next)
	return old, next
}

func TestReloadDiff(t *testing.T) {
	for _, tt := range reloadCases() {
		t.Run(tt.name, func(t *testing.T) {
			old, next := reloadConfigs(tt.mutate)

			applied, needRestart := old.ReloadDiff(next)
			assert.Equal(t, tt.applied, applied, "applied")
			assert.Equal(t, tt.needRestart, needRestart, "needRestart")

			// Symmetric: the same keys changed going back.
			back, backRestart := next.ReloadDiff(old)
			assert.Equal(t, tt.applied, back, "applied, reversed")
			assert.Equal(t, tt.needRestart, backRestart, "needRestart, reversed")

			for _, key := range append(applied, needRestart...) {
				for _, secret := range []string{testCookieSecret, testCookieSecret2, testHeaderSecret, testAdminToken, testLockToken, "changed"} {
					assert.NotContains(t, key, secret)
				}
			}
		})
	}
}

func TestReloadDiffNilEqualsEmpty(t *testing.T) {
	a, b := validConfig(), validConfig()
	a.Proxy.Affinity.Routes = nil
	a.TLS.ACME.Domains = nil
	b.TLS.ACME.Domains = []string{}
	a.Session.Lock.SkipPaths = nil
	a.Locks.RedlockAddrs = nil
	applied, needRestart := a.ReloadDiff(b)
	assert.Nil(t, applied)
	assert.Nil(t, needRestart)
}

// TestReloadableKeysExist guards the list of reloadable keys against a
// renamed key, which would silently turn it into one that takes a restart.
func TestReloadableKeysExist(t *testing.T) {
	keys := leafKeys(configType(), "")
	for _, k := range reloadableKeys() {
		t.Run(k, func(t *testing.T) {
			found := false
			for _, key := range keys {
				if key == k || strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[") {
					found = true
				}
			}
			assert.True(t, found, "%s names no key or section", k)
		})
	}
}

func TestReload(t *testing.T) {
	for _, tt := range reloadCases() {
		t.Run(tt.name, func(t *testing.T) {
			old, next := reloadConfigs(tt.mutate)
			if next.Validate() != nil {
				t.Skip("next does not validate, so Load would have refused it")
			}
			want := old // Reload must not change the running config

			merged, applied, needRestart, err := old.Reload(next)
			require.NoError(t, err)
			assert.Equal(t, tt.applied, applied, "applied")
			assert.Equal(t, tt.needRestart, needRestart, "needRestart")
			assert.NoError(t, merged.Validate())
			assert.Equal(t, want, old, "the running config is unchanged")

			// merged takes next's value of every key that applies, and
			// keeps the running value of every other key.
			gotApplied, gotRestart := old.ReloadDiff(merged)
			assert.Equal(t, tt.applied, gotApplied, "merged differs from the running config in the applied keys")
			assert.Nil(t, gotRestart, "merged differs from the running config in a key that needs a restart")
			gotApplied, gotRestart = merged.ReloadDiff(next)
			assert.Nil(t, gotApplied, "merged lacks next's value of an applied key")
			assert.Equal(t, tt.needRestart, gotRestart, "merged has next's value of a key that needs a restart")
		})
	}
}

// TestReloadTheHandCopiedFields pins what the wiring used to copy by hand
// on SIGHUP: upstreams, proxy.policy, proxy.health_check, proxy.passive,
// proxy.affinity, proxy.retry and log.level, and nothing else.
func TestReloadTheHandCopiedFields(t *testing.T) {
	old := validConfig()
	next := validConfig()
	next.Upstreams = append(next.Upstreams, Upstream{Name: "app2", URL: "http://127.0.0.1:8082", Weight: 2})
	next.Proxy.Policy = proxy.LeastConn
	next.Proxy.HealthCheck.Path = "/healthz"
	next.Proxy.Passive.MaxFails = 5
	next.Proxy.Affinity = AffinityConfig{Cookie: "JSESSIONID", Mode: proxy.ValueMap, Routes: map[string]string{"s1": "app2"}}
	next.Proxy.Retry.Attempts = 1
	next.Log.Level = LogDebug
	next.Log.Format = LogConsole
	next.Proxy.DialTimeout = time.Second
	require.NoError(t, next.Validate())

	merged, _, needRestart, err := old.Reload(next)
	require.NoError(t, err)

	want := old
	want.Upstreams = next.Upstreams
	want.Proxy.Policy = next.Proxy.Policy
	want.Proxy.HealthCheck = next.Proxy.HealthCheck
	want.Proxy.Passive = next.Proxy.Passive
	want.Proxy.Affinity = next.Proxy.Affinity
	want.Proxy.Retry = next.Proxy.Retry
	want.Log.Level = next.Log.Level
	assert.Equal(t, want, merged)
	assert.Equal(t, []string{"proxy.dial_timeout", "log.format"}, needRestart)
}

// TestReloadRefusesAMixThatDoesNotValidate pins that a reloadable key
// cannot contradict a key that keeps its running value: here the affinity
// cookie of next is the running session cookie.
func TestReloadRefusesAMixThatDoesNotValidate(t *testing.T) {
	old := validConfig()
	next := validConfig()
	next.Session.CookieName = "sc_sid"                  // needs a restart
	next.Proxy.Affinity.Cookie = old.Session.CookieName // applies at once
	require.NoError(t, next.Validate())

	merged, applied, needRestart, err := old.Reload(next)
	require.Error(t, err)
	assert.Equal(t, "proxy.affinity.cookie: must differ from session.cookie_name", err.Error())
	assert.Equal(t, []string{"proxy.affinity.cookie"}, errorKeys(err))
	assert.Equal(t, old, merged, "the running config, unchanged")
	assert.Nil(t, applied)
	assert.Nil(t, needRestart)
}

// TestReloadableKeysNameFields checks that Reload follows every reloadable
// key to the field it copies, and that fieldAt refuses a key that names
// none instead of copying something else.
func TestReloadableKeysNameFields(t *testing.T) {
	c := reflect.ValueOf(Default())
	for _, k := range reloadableKeys() {
		assert.NotPanics(t, func() { fieldAt(c, k) }, k)
	}
	assert.Panics(t, func() { fieldAt(c, "proxy.retr") })
}

// TestReloadRefusesARotationThatClashes: a rotated secret is checked
// against the keys that keep running, here the lock service's token,
// which needs a restart; the running secrets stay.
func TestReloadRefusesARotationThatClashes(t *testing.T) {
	old := validConfig()
	old.LockService = LockServiceConfig{Listen: "127.0.0.1:9091", Token: testLockToken + "-long-enough-to-be-a-session-secret",
		MaxTTL: time.Minute, MaxWait: time.Second}
	require.NoError(t, old.Validate())
	next := validConfig()
	next.Session.Secrets = []Secret{old.LockService.Token, testCookieSecret}
	require.NoError(t, next.Validate(), "on its own, without the lock service, next is valid")

	merged, _, _, err := old.Reload(next)
	require.Error(t, err)
	assert.Equal(t, []string{"lock_service.token"}, errorKeys(err))
	assert.NotContains(t, err.Error(), testLockToken)
	assert.Equal(t, old, merged, "the running secrets stay")
}
