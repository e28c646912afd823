package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/proxy"
)

// ruleCase is a configuration that breaks one rule, and the error.
type ruleCase struct {
	name    string
	mutate  func(c *Config)
	wantKey string
	wantMsg string // the start of the error text, "key: message"
}

// checkRules requires that each case, applied to validConfig, fails
// validation on its key alone, with its message.
func checkRules(t *testing.T, tests []ruleCase) {
	t.Helper()
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

func TestValidateRules(t *testing.T) {
	tests := []ruleCase{
		// listen
		{"listen empty", func(c *Config) { c.Listen = "" }, "listen", "listen: must not be empty"},
		{"listen without port", func(c *Config) { c.Listen = "127.0.0.1" }, "listen", `listen: "127.0.0.1" is not host:port`},
		{"listen bad port", func(c *Config) { c.Listen = ":http" }, "listen", `listen: ":http": port must be a number from 0 to 65535`},
		{"listen port too big", func(c *Config) { c.Listen = ":70000" }, "listen", `listen: ":70000": port must be a number from 0 to 65535`},

		// upstreams
		{"no upstreams", func(c *Config) { c.Upstreams = nil }, "upstreams", "upstreams: at least one upstream is required"},
		{"upstream without name", func(c *Config) { c.Upstreams[0].Name = "" }, "upstreams[0].name", "upstreams[0].name: must not be empty"},
		{"upstream bad name", func(c *Config) { c.Upstreams[0].Name = "a,b" }, "upstreams[0].name", `upstreams[0].name: "a,b" may contain only letters, digits, '.', '-' and '_'`},
		{"upstream duplicate name", func(c *Config) {
			c.Upstreams = append(c.Upstreams, Upstream{Name: "app1", URL: "http://127.0.0.1:8082", Weight: 1})
		}, "upstreams[1].name", `upstreams[1].name: "app1" is already the name of upstreams[0]`},
		{"upstream without url", func(c *Config) { c.Upstreams[0].URL = "" }, "upstreams[0].url", "upstreams[0].url: must not be empty"},
		{"upstream url scheme", func(c *Config) { c.Upstreams[0].URL = "ftp://h" }, "upstreams[0].url", `upstreams[0].url: must start with "http://" or "https://"`},
		{"upstream url without scheme", func(c *Config) { c.Upstreams[0].URL = "127.0.0.1:8081" }, "upstreams[0].url", "upstreams[0].url:"},
		{"upstream url without host", func(c *Config) { c.Upstreams[0].URL = "http:///path" }, "upstreams[0].url", "upstreams[0].url: must have a host"},
		{"upstream url with credentials", func(c *Config) { c.Upstreams[0].URL = "http://u:p@h" }, "upstreams[0].url", "upstreams[0].url: must not contain credentials"},
		{"upstream url unparsable", func(c *Config) { c.Upstreams[0].URL = "http://h:port" }, "upstreams[0].url", "upstreams[0].url: not a valid URL"},
		{"upstream weight 0", func(c *Config) { c.Upstreams[0].Weight = 0 }, "upstreams[0].weight", "upstreams[0].weight: must be at least 1 (got 0)"},
		{"upstream weight negative", func(c *Config) { c.Upstreams[0].Weight = -2 }, "upstreams[0].weight", "upstreams[0].weight: must be at least 1 (got -2)"},

		// server and proxy
		{"read_header_timeout", func(c *Config) { c.Server.ReadHeaderTimeout = 0 }, "server.read_header_timeout", "server.read_header_timeout: must be greater than 0 (got 0s)"},
		{"server idle_timeout", func(c *Config) { c.Server.IdleTimeout = -time.Second }, "server.idle_timeout", "server.idle_timeout: must be greater than 0 (got -1s)"},
		{"shutdown_timeout", func(c *Config) { c.Server.ShutdownTimeout = 0 }, "server.shutdown_timeout", "server.shutdown_timeout: must be greater than 0 (got 0s)"},
		{"trusted_proxies host name", func(c *Config) { c.Server.TrustedProxies = TrustedProxies{"10.0.0.0/8", "lb.internal"} },
			"server.trusted_proxies[1]", `server.trusted_proxies[1]: "lb.internal" is neither a CIDR prefix nor an IP address`},
		{"trusted_proxies empty entry", func(c *Config) { c.Server.TrustedProxies = TrustedProxies{""} },
			"server.trusted_proxies[0]", "server.trusted_proxies[0]: empty: want a CIDR prefix or an IP address"},
		{"trusted_proxies bad prefix length", func(c *Config) { c.Server.TrustedProxies = TrustedProxies{"10.0.0.0/40"} },
			"server.trusted_proxies[0]", `server.trusted_proxies[0]: "10.0.0.0/40" is neither a CIDR prefix nor an IP address`},
		{"handover_socket relative", func(c *Config) { c.Server.HandoverSocket = "sidecar.sock" }, "server.handover_socket", `server.handover_socket: "sidecar.sock" must be an absolute path`},
		{"handover_socket too long", func(c *Config) { c.Server.HandoverSocket = "/" + strings.Repeat("s", 104) }, "server.handover_socket", "server.handover_socket: must be at most 104 bytes, the limit of a unix socket path (got 105)"},
		{"handover_socket with NUL", func(c *Config) { c.Server.HandoverSocket = "/run/a\x00b" }, "server.handover_socket", "server.handover_socket: must not contain a NUL byte"},
		// Moved here from serve, so that check refuses it too.
		{"handover_socket with the bolt store", func(c *Config) { c.Server.HandoverSocket = "/run/sidecar/handover.sock" }, "server.handover_socket",
			"server.handover_socket: needs store.type redis or memory: the bolt file stays locked by the running process until it has drained"},
		{"dial_timeout", func(c *Config) { c.Proxy.DialTimeout = 0 }, "proxy.dial_timeout", "proxy.dial_timeout: must be greater than 0 (got 0s)"},
		{"response_header_timeout", func(c *Config) { c.Proxy.ResponseHeaderTimeout = 0 }, "proxy.response_header_timeout", "proxy.response_header_timeout: must be greater than 0 (got 0s)"},
		{"idle_conn_timeout", func(c *Config) { c.Proxy.IdleConnTimeout = 0 }, "proxy.idle_conn_timeout", "proxy.idle_conn_timeout: must be greater than 0 (got 0s)"},
		{"max_idle_conns_per_host", func(c *Config) { c.Proxy.MaxIdleConnsPerHost = 0 }, "proxy.max_idle_conns_per_host", "proxy.max_idle_conns_per_host: must be greater than 0 (got 0)"},
		{"policy", func(c *Config) { c.Proxy.Policy = "random" }, "proxy.policy", `proxy.policy: "random" is not one of round_robin, least_conn`},

		// proxy.health_check (checked only when path is set)
		{"health path relative", func(c *Config) { c.Proxy.HealthCheck.Path = "healthz" }, "proxy.health_check.path", `proxy.health_check.path: "healthz" must start with a single "/"`},
		{"health path network-path reference", func(c *Config) { c.Proxy.HealthCheck.Path = "//evil.example/healthz" }, "proxy.health_check.path", `proxy.health_check.path: "//evil.example/healthz" must start with a single "/"`},
		{"health path with a space", func(c *Config) { c.Proxy.HealthCheck.Path = "/health z" }, "proxy.health_check.path", `proxy.health_check.path: "/health z" must not contain white space, control characters or '#'`},
		{"health path with a fragment", func(c *Config) { c.Proxy.HealthCheck.Path = "/healthz#x" }, "proxy.health_check.path", `proxy.health_check.path: "/healthz#x" must not contain`},
		{"health path bad escape", func(c *Config) { c.Proxy.HealthCheck.Path = "/health%zz" }, "proxy.health_check.path", `proxy.health_check.path: "/health%zz" is not a valid request path`},
		{"health interval", func(c *Config) {
			c.Proxy.HealthCheck.Path = "/healthz"
			c.Proxy.HealthCheck.Interval = 0
		}, "proxy.health_check.interval", "proxy.health_check.interval: must be greater than 0 (got 0s)"},
		{"health timeout", func(c *Config) {
			c.Proxy.HealthCheck.Path = "/healthz"
			c.Proxy.HealthCheck.Timeout = 0
		}, "proxy.health_check.timeout", "proxy.health_check.timeout: must be greater than 0 (got 0s)"},
		{"health timeout above interval", func(c *Config) {
			c.Proxy.HealthCheck.Path = "/healthz"
			c.Proxy.HealthCheck.Timeout = 6 * time.Second
		}, "proxy.health_check.timeout", "proxy.health_check.timeout: must be at most proxy.health_check.interval (5s), got 6s"},
		{"healthy_threshold", func(c *Config) {
			c.Proxy.HealthCheck.Path = "/healthz"
			c.Proxy.HealthCheck.HealthyThreshold = 0
		}, "proxy.health_check.healthy_threshold", "proxy.health_check.healthy_threshold: must be at least 1 (got 0)"},
		{"unhealthy_threshold", func(c *Config) {
			c.Proxy.HealthCheck.Path = "/healthz"
			c.Proxy.HealthCheck.UnhealthyThreshold = -1
		}, "proxy.health_check.unhealthy_threshold", "proxy.health_check.unhealthy_threshold: must be at least 1 (got -1)"},
		{"expect_status below 100", func(c *Config) {
			c.Proxy.HealthCheck.Path = "/healthz"
			c.Proxy.HealthCheck.ExpectStatus = 99
		}, "proxy.health_check.expect_status", "proxy.health_check.expect_status: must be 0 (any 2xx or 3xx) or a status code from 100 to 599 (got 99)"},
		{"expect_status above 599", func(c *Config) {
			c.Proxy.HealthCheck.Path = "/healthz"
			c.Proxy.HealthCheck.ExpectStatus = 600
		}, "proxy.health_check.expect_status", "proxy.health_check.expect_status: must be 0 (any 2xx or 3xx) or a status code from 100 to 599 (got 600)"},

		// proxy.passive and proxy.retry
		{"max_fails negative", func(c *Config) { c.Proxy.Passive.MaxFails = -1 }, "proxy.passive.max_fails", "proxy.passive.max_fails: must not be negative (got -1)"},
		{"cooldown", func(c *Config) { c.Proxy.Passive.Cooldown = 0 }, "proxy.passive.cooldown", "proxy.passive.cooldown: must be greater than 0 (got 0s)"},
		{"base_ejection zero", func(c *Config) { c.Proxy.Passive.BaseEjection = 0 }, "proxy.passive.base_ejection", "proxy.passive.base_ejection: must be greater than 0 (got 0s)"},
		{"max_ejection_percent negative", func(c *Config) { c.Proxy.Passive.MaxEjectionPercent = -1 },
			"proxy.passive.max_ejection_percent", "proxy.passive.max_ejection_percent: must be a percentage from 0 to 100 (got -1)"},
		{"max_ejection_percent over 100", func(c *Config) { c.Proxy.Passive.MaxEjectionPercent = 101 },
			"proxy.passive.max_ejection_percent", "proxy.passive.max_ejection_percent: must be a percentage from 0 to 100 (got 101)"},
		{"panic_threshold over 100", func(c *Config) { c.Proxy.PanicThreshold = 150 },
			"proxy.panic_threshold", "proxy.panic_threshold: must be a percentage from 0 to 100 (got 150)"},
		{"retry attempts", func(c *Config) { c.Proxy.Retry.Attempts = 0 }, "proxy.retry.attempts", "proxy.retry.attempts: must be at least 1 (got 0)"},
		{"retry timeout", func(c *Config) { c.Proxy.Retry.Timeout = 0 }, "proxy.retry.timeout", "proxy.retry.timeout: must be greater than 0 (got 0s)"},
		{"retry buffer_bytes", func(c *Config) { c.Proxy.Retry.BufferBytes = -1 }, "proxy.retry.buffer_bytes", "proxy.retry.buffer_bytes: must not be negative (got -1)"},

		// proxy.affinity (checked only when cookie is set, but for mode)
		{"affinity mode", func(c *Config) { c.Proxy.Affinity.Mode = "jvmroute" }, "proxy.affinity.mode", `proxy.affinity.mode: "jvmroute" is not one of route_suffix, map`},
		{"affinity cookie not a token", func(c *Config) { c.Proxy.Affinity.Cookie = "JSESSION ID" }, "proxy.affinity.cookie", `proxy.affinity.cookie: "JSESSION ID" is not a valid cookie name`},
		{"affinity cookie is the session cookie", func(c *Config) { c.Proxy.Affinity.Cookie = "sidecar_sid" }, "proxy.affinity.cookie", "proxy.affinity.cookie: must differ from session.cookie_name"},
		{"route to an unknown upstream", func(c *Config) {
			c.Proxy.Affinity.Cookie = "JSESSIONID"
			c.Proxy.Affinity.Routes = map[string]string{"node1": "app1", "node2": "app2"}
		}, "proxy.affinity.routes.node2", `proxy.affinity.routes.node2: "app2" is not the name of an upstream (the upstreams are app1)`},
		{"route to no upstream", func(c *Config) {
			c.Proxy.Affinity.Cookie = "JSESSIONID"
			c.Proxy.Affinity.Routes = map[string]string{"node1": ""}
		}, "proxy.affinity.routes.node1", "proxy.affinity.routes.node1: must name an upstream"},
		{"empty route", func(c *Config) {
			c.Proxy.Affinity.Cookie = "JSESSIONID"
			c.Proxy.Affinity.Routes = map[string]string{"": "app1"}
		}, "proxy.affinity.routes", "proxy.affinity.routes: a route must not be empty"},
		{"route with a dot in route_suffix mode", func(c *Config) {
			c.Proxy.Affinity.Cookie = "JSESSIONID"
			c.Proxy.Affinity.Routes = map[string]string{"node.1": "app1"}
		}, "proxy.affinity.routes.node.1", `proxy.affinity.routes.node.1: the route "node.1" contains '.', but in route_suffix mode`},
		{"route that cannot be in a cookie", func(c *Config) {
			c.Proxy.Affinity.Cookie = "SERVERID"
			c.Proxy.Affinity.Mode = proxy.ValueMap
			c.Proxy.Affinity.Routes = map[string]string{"a;b": "app1"}
		}, "proxy.affinity.routes.a;b", `proxy.affinity.routes.a;b: the route "a;b" cannot appear in a cookie value`},
		{"map mode without routes", func(c *Config) {
			c.Proxy.Affinity.Cookie = "SERVERID"
			c.Proxy.Affinity.Mode = proxy.ValueMap
		}, "proxy.affinity.routes", "proxy.affinity.routes: must not be empty in map mode: the whole cookie value is looked up in it"},
		{"route_suffix by name with a dotted upstream name", func(c *Config) {
			c.Proxy.Affinity.Cookie = "JSESSIONID"
			c.Upstreams[0].Name = "app.1"
		}, "proxy.affinity.routes", `proxy.affinity.routes: is empty, so routes are upstream names, but upstream "app.1" contains '.'`},

		// store
		{"store type", func(c *Config) { c.Store.Type = "mongo" }, "store.type", `store.type: "mongo" is not one of bolt, memory, redis`},
		{"store timeout", func(c *Config) { c.Store.Timeout = 0 }, "store.timeout", "store.timeout: must be greater than 0 (got 0s)"},
		{"retry_after below 1s", func(c *Config) { c.Store.RetryAfter = 500 * time.Millisecond }, "store.retry_after", "store.retry_after: must be at least 1s (got 500ms)"},
		{"retry_after fraction", func(c *Config) { c.Store.RetryAfter = 1500 * time.Millisecond }, "store.retry_after", "store.retry_after: must be whole seconds (got 1.5s)"},
		{"bolt path", func(c *Config) { c.Store.Bolt.Path = "" }, "store.bolt.path", "store.bolt.path: must not be empty"},
		{"bolt sweep_interval", func(c *Config) { c.Store.Bolt.SweepInterval = 0 }, "store.bolt.sweep_interval", "store.bolt.sweep_interval: must be greater than 0 (got 0s)"},
		{"redis addrs empty", func(c *Config) { c.Store.Type = StoreRedis; c.Store.Redis.Addrs = nil }, "store.redis.addrs", "store.redis.addrs: at least one address is required"},
		{"redis addr without port", func(c *Config) { c.Store.Type = StoreRedis; c.Store.Redis.Addrs = []string{"a:1", "redis"} }, "store.redis.addrs[1]", `store.redis.addrs[1]: "redis" is not host:port`},
		{"redis addr without host", func(c *Config) { c.Store.Type = StoreRedis; c.Store.Redis.Addrs = []string{":6379"} }, "store.redis.addrs[0]", `store.redis.addrs[0]: ":6379" has no host`},
		{"redis db negative", func(c *Config) { c.Store.Type = StoreRedis; c.Store.Redis.DB = -1 }, "store.redis.db", "store.redis.db: must not be negative (got -1)"},
		{"redis db on a cluster", func(c *Config) {
			c.Store.Type = StoreRedis
			c.Store.Redis.Addrs = []string{"a:1", "b:2"}
			c.Store.Redis.DB = 2
		}, "store.redis.db", "store.redis.db: must be 0 with Redis Cluster (several addrs and no master_name); got 2"},
		{"redis pool_size", func(c *Config) { c.Store.Type = StoreRedis; c.Store.Redis.PoolSize = -1 }, "store.redis.pool_size", "store.redis.pool_size: must not be negative (got -1)"},
		{"redis cache_max_entries", func(c *Config) { c.Store.Type = StoreRedis; c.Store.Redis.CacheMaxEntries = 0 }, "store.redis.cache_max_entries", "store.redis.cache_max_entries: must be positive (got 0)"},
		{"redis cache_max_bytes", func(c *Config) { c.Store.Type = StoreRedis; c.Store.Redis.CacheMaxBytes = -1 }, "store.redis.cache_max_bytes", "store.redis.cache_max_bytes: must be positive (got -1)"},
		{"redis cache_staleness too short", func(c *Config) { c.Store.Type = StoreRedis; c.Store.Redis.CacheStaleness = time.Millisecond }, "store.redis.cache_staleness", "store.redis.cache_staleness: must be between 10ms and 10s (got 1ms)"},
		{"redis cache_staleness too long", func(c *Config) { c.Store.Type = StoreRedis; c.Store.Redis.CacheStaleness = time.Minute }, "store.redis.cache_staleness", "store.redis.cache_staleness: must be between 10ms and 10s (got 1m0s)"},

		// session
		{"cookie_name empty", func(c *Config) { c.Session.CookieName = "" }, "session.cookie_name", "session.cookie_name: must not be empty"},
		{"cookie_name not a token", func(c *Config) { c.Session.CookieName = "sid=1" }, "session.cookie_name", `session.cookie_name: "sid=1" is not a valid cookie name`},
		{"__Host- cookie with a domain", func(c *Config) {
			c.Session.CookieName = "__Host-sid"
			c.Session.CookieSecure = CookieSecureAlways
			c.Session.CookieDomain = "example.com"
		}, "session.cookie_name", "session.cookie_name: a __Host- cookie requires"},
		{"__Secure- cookie without always", func(c *Config) { c.Session.CookieName = "__Secure-sid" }, "session.cookie_secure", "session.cookie_secure: must be always for a cookie name starting with __Secure- or __Host-"},
		{"cookie_path relative", func(c *Config) { c.Session.CookiePath = "app" }, "session.cookie_path", `session.cookie_path: "app" must start with "/"`},
		{"cookie_path with semicolon", func(c *Config) { c.Session.CookiePath = "/a;b" }, "session.cookie_path", "session.cookie_path:"},
		{"cookie_domain", func(c *Config) { c.Session.CookieDomain = "a.com; secure" }, "session.cookie_domain", `session.cookie_domain: "a.com; secure" is not a domain name`},
		{"cookie_same_site", func(c *Config) { c.Session.CookieSameSite = "loose" }, "session.cookie_same_site", `session.cookie_same_site: "loose" is not one of lax, strict, none`},
		{"same_site none needs secure always", func(c *Config) { c.Session.CookieSameSite = SameSiteNone }, "session.cookie_same_site", `session.cookie_same_site: "none" requires session.cookie_secure: always`},
		{"cookie_secure", func(c *Config) { c.Session.CookieSecure = "never" }, "session.cookie_secure", `session.cookie_secure: "never" is not one of auto, always`},
		{"secrets missing", func(c *Config) { c.Session.Secrets = nil }, "session.secrets", "session.secrets: at least one secret is required (or set session.secrets_file)"},
		{"secret too short", func(c *Config) { c.Session.Secrets = []Secret{testCookieSecret, "0123456789"} }, "session.secrets[1]", "session.secrets[1]: must be at least 32 bytes (got 10)"},
		{"idle_timeout", func(c *Config) { c.Session.IdleTimeout = 0 }, "session.idle_timeout", "session.idle_timeout: must be greater than 0 (got 0s)"},
		{"absolute_timeout below idle", func(c *Config) { c.Session.AbsoluteTimeout = 10 * time.Minute }, "session.absolute_timeout", "session.absolute_timeout: must be at least session.idle_timeout (30m0s), got 10m0s"},
		{"touch_interval zero", func(c *Config) { c.Session.TouchInterval = 0 }, "session.touch_interval", "session.touch_interval: must be greater than 0 (got 0s)"},
		{"touch_interval not below idle", func(c *Config) { c.Session.TouchInterval = 30 * time.Minute }, "session.touch_interval", "session.touch_interval: must be less than session.idle_timeout (30m0s), got 30m0s"},
		{"tombstone_ttl negative", func(c *Config) { c.Session.TombstoneTTL = -time.Second }, "session.tombstone_ttl", "session.tombstone_ttl: must not be negative (got -1s; 0 turns tombstones off)"},
		{"max_bytes", func(c *Config) { c.Session.MaxBytes = 0 }, "session.max_bytes", "session.max_bytes: must be greater than 0 (got 0)"},
		{"locking", func(c *Config) { c.Session.Locking = "on" }, "session.locking", `session.locking: "on" is not one of off, session`},

		// session.lock (checked only with locking: session, but for on_timeout)
		{"lock on_timeout, even while locking is off", func(c *Config) { c.Session.Lock.OnTimeout = "wait" }, "session.lock.on_timeout", `session.lock.on_timeout: "wait" is not one of reject, proceed`},
		{"lock wait", func(c *Config) { sessionLocking(c); c.Session.Lock.Wait = 0 }, "session.lock.wait", "session.lock.wait: must be greater than 0 (got 0s)"},
		{"lock ttl", func(c *Config) { sessionLocking(c); c.Session.Lock.TTL = -time.Second }, "session.lock.ttl", "session.lock.ttl: must be at least 1ms (got -1s)"},
		{"lock ttl below 1ms", func(c *Config) { sessionLocking(c); c.Session.Lock.TTL = 999 * time.Microsecond }, "session.lock.ttl", "session.lock.ttl: must be at least 1ms (got 999µs)"},
		{"skip path relative", func(c *Config) {
			sessionLocking(c)
			c.Session.Lock.SkipPaths = []string{"/poll", "static/*"}
		}, "session.lock.skip_paths[1]", `session.lock.skip_paths[1]: "static/*" must start with "/"`},
		{"skip path empty", func(c *Config) { sessionLocking(c); c.Session.Lock.SkipPaths = []string{""} }, "session.lock.skip_paths[0]", `session.lock.skip_paths[0]: "" must start with "/"`},
		{"skip path unclosed class", func(c *Config) { sessionLocking(c); c.Session.Lock.SkipPaths = []string{"/static/[a-z"} }, "session.lock.skip_paths[0]", `session.lock.skip_paths[0]: "/static/[a-z" is not a valid path.Match pattern`},
		{"skip path bad pattern after a mismatch", func(c *Config) { sessionLocking(c); c.Session.Lock.SkipPaths = []string{"/a[]"} }, "session.lock.skip_paths[0]", `session.lock.skip_paths[0]: "/a[]" is not a valid path.Match pattern`},
		{"skip path trailing backslash", func(c *Config) { sessionLocking(c); c.Session.Lock.SkipPaths = []string{`/poll\`} }, "session.lock.skip_paths[0]", `session.lock.skip_paths[0]: "/poll\\" is not a valid path.Match pattern`},

		// locks (checked only while session locking or the lock service is on)
		{"locks prefix empty", func(c *Config) { sessionLocking(c); c.Locks.Prefix = "" }, "locks.prefix", "locks.prefix: must not be empty"},
		{"redlock with two masters", func(c *Config) { sessionLocking(c); c.Locks.RedlockAddrs = []string{"a:1", "b:2"} }, "locks.redlock_addrs", "locks.redlock_addrs: needs at least 3 Redis masters for a quorum (got 2)"},
		{"redlock checked for the lock service too", func(c *Config) { lockService(c); c.Locks.RedlockAddrs = []string{"a:1"} }, "locks.redlock_addrs", "locks.redlock_addrs: needs at least 3 Redis masters for a quorum (got 1)"},
		{"redlock addr without port", func(c *Config) { sessionLocking(c); c.Locks.RedlockAddrs = []string{"a:1", "b", "c:3"} }, "locks.redlock_addrs[1]", `locks.redlock_addrs[1]: "b" is not host:port`},
		{"redlock addr without host", func(c *Config) { sessionLocking(c); c.Locks.RedlockAddrs = []string{"a:1", "b:2", ":6379"} }, "locks.redlock_addrs[2]", `locks.redlock_addrs[2]: ":6379" has no host`},
		{"redlock addr repeated", func(c *Config) {
			sessionLocking(c)
			c.Locks.RedlockAddrs = []string{"redis-a:6379", "redis-b:6379", "Redis-A:06379"}
		}, "locks.redlock_addrs[2]", `locks.redlock_addrs[2]: "Redis-A:06379" is the same master as locks.redlock_addrs[0]; the masters must be distinct`},

		// lock_service (checked only when listen is set)
		{"lock service listen malformed", func(c *Config) { lockService(c); c.LockService.Listen = "9091" }, "lock_service.listen", `lock_service.listen: "9091" is not host:port`},
		{"lock service listen equals listen", func(c *Config) { lockService(c); c.LockService.Listen = c.Listen }, "lock_service.listen", `lock_service.listen: must differ from listen ("127.0.0.1:8080")`},
		{"lock service on listen's port, all interfaces", func(c *Config) {
			lockService(c)
			c.Listen = ":8080"
			c.LockService.Listen = "10.0.0.5:8080"
		}, "lock_service.listen", `lock_service.listen: must differ from listen (":8080")`},
		{"lock service listen equals admin.listen", func(c *Config) {
			lockService(c)
			c.Admin.Listen, c.Admin.Token = "LOCALHOST:9090", testAdminToken
			c.LockService.Listen = "localhost:9090"
		}, "lock_service.listen", `lock_service.listen: must differ from admin.listen ("LOCALHOST:9090")`},
		{"lock service token missing", func(c *Config) { lockService(c); c.LockService.Token = "" }, "lock_service.token", "lock_service.token: is required when lock_service.listen is set (or set lock_service.token_file)"},
		{"lock service token short", func(c *Config) { lockService(c); c.LockService.Token = "short" }, "lock_service.token", "lock_service.token: must be at least 16 bytes (got 5)"},
		{"lock service token is the admin token", func(c *Config) { lockService(c); c.Admin.Token = testLockToken }, "lock_service.token", "lock_service.token: must differ from admin.token"},
		{"lock service token is a session secret", func(c *Config) {
			lockService(c)
			c.LockService.Token = testCookieSecret
		}, "lock_service.token", "lock_service.token: must differ from every session secret (it equals session.secrets[0])"},
		{"lock service max_ttl", func(c *Config) { lockService(c); c.LockService.MaxTTL = 0 }, "lock_service.max_ttl", "lock_service.max_ttl: must be at least 1ms (got 0s)"},
		{"lock service max_wait", func(c *Config) { lockService(c); c.LockService.MaxWait = -time.Second }, "lock_service.max_wait", "lock_service.max_wait: must be greater than 0 (got -1s)"},

		// headers
		{"prefix empty", func(c *Config) { c.Headers.Prefix = "" }, "headers.prefix", "headers.prefix: must not be empty"},
		{"prefix not a token", func(c *Config) { c.Headers.Prefix = "X Sidecar:" }, "headers.prefix", `headers.prefix: "X Sidecar:" is not a valid header name`},
		{"header secret missing", func(c *Config) { c.Headers.Secret = "" }, "headers.secret", "headers.secret: is required (or set headers.secret_file)"},
		{"header secret short", func(c *Config) { c.Headers.Secret = "0123456789" }, "headers.secret", "headers.secret: must be at least 32 bytes (got 10)"},
		{"header secret equals a session secret", func(c *Config) {
			c.Session.Secrets = []Secret{testCookieSecret2, testHeaderSecret}
		}, "headers.secret", "headers.secret: must differ from every session secret (it equals session.secrets[1])"},
		{"issuer", func(c *Config) { c.Headers.Issuer = "" }, "headers.issuer", "headers.issuer: must not be empty"},
		{"audience", func(c *Config) { c.Headers.Audience = "" }, "headers.audience", "headers.audience: must not be empty"},
		{"ttl", func(c *Config) { c.Headers.TTL = 0 }, "headers.ttl", "headers.ttl: must be greater than 0 (got 0s)"},
		{"max_bytes", func(c *Config) { c.Headers.MaxBytes = 1023 }, "headers.max_bytes", "headers.max_bytes: must be at least 1024 (got 1023)"},

		// admin
		{"admin listen malformed", func(c *Config) { c.Admin.Listen = "9090"; c.Admin.Token = testAdminToken }, "admin.listen", `admin.listen: "9090" is not host:port`},
		{"admin listen remote", func(c *Config) { c.Admin.Listen = "0.0.0.0:9090"; c.Admin.Token = testAdminToken }, "admin.listen", `admin.listen: "0.0.0.0:9090" is not a loopback address`},
		{"admin listen all interfaces", func(c *Config) { c.Admin.Listen = ":9090"; c.Admin.Token = testAdminToken }, "admin.listen", `admin.listen: ":9090" is not a loopback address`},
		{"admin listen equals listen", func(c *Config) { c.Admin.Listen = c.Listen; c.Admin.Token = testAdminToken }, "admin.listen", "admin.listen: must differ from listen"},
		{"admin token missing", func(c *Config) { c.Admin.Listen = "127.0.0.1:9090" }, "admin.token", "admin.token: is required when admin.listen is set (or set admin.token_file)"},
		{"admin token short", func(c *Config) { c.Admin.Listen = "127.0.0.1:9090"; c.Admin.Token = "short" }, "admin.token", "admin.token: must be at least 16 bytes (got 5)"},
		{"admin host with port", func(c *Config) {
			c.Admin.Listen, c.Admin.Token, c.Admin.Hosts = "127.0.0.1:9090", testAdminToken, []string{"admin.example", "admin.example:443"}
		}, "admin.hosts[1]", `admin.hosts[1]: "admin.example:443" is not a host name (no scheme, port or path)`},

		// log
		{"log level", func(c *Config) { c.Log.Level = "trace" }, "log.level", `log.level: "trace" is not one of debug, info, warn, error`},
		{"log format", func(c *Config) { c.Log.Format = "text" }, "log.format", `log.format: "text" is not one of json, console`},
		{"access log format", func(c *Config) { c.Log.Access = "common" }, "log.access", `log.access: "common" is not one of json, combined, off`},
		{"negative auth max", func(c *Config) { c.AuthFailures.Max = -1 }, "auth_failures.max", "auth_failures.max: must be 0 (never lock out) or more (got -1)"},
		{"zero auth window", func(c *Config) { c.AuthFailures.Window = 0 }, "auth_failures.window", "auth_failures.window: must be greater than 0 (got 0s)"},
		{"sub-second lockout", func(c *Config) { c.AuthFailures.Lockout = 1500 * time.Millisecond }, "auth_failures.lockout",
			"auth_failures.lockout: must be whole seconds, at least 1s: it is sent as Retry-After (got 1.5s)"},
		{"negative log burst", func(c *Config) { c.AuthFailures.LogBurst = -2 }, "auth_failures.log_burst", "auth_failures.log_burst: must be 0 (summaries only) or more (got -2)"},
		{"negative heap floor", func(c *Config) { c.Runtime.GCMinHeapBytes = -1 }, "runtime.gc_min_heap_bytes",
			"runtime.gc_min_heap_bytes: must be from 0 (Go's default) to 68719476736 (64 GiB), got -1"},

		// tls
		{"cert without key", func(c *Config) { c.TLS.CertFile = "c.pem" }, "tls.key_file", "tls.key_file: is required when tls.cert_file is set"},
		{"key without cert", func(c *Config) { c.TLS.KeyFile = "k.pem" }, "tls.cert_file", "tls.cert_file: is required when tls.key_file is set"},
		{"acme with a static certificate", func(c *Config) {
			c.TLS.CertFile, c.TLS.KeyFile = "c.pem", "k.pem"
			c.TLS.ACME.Domains = []string{"app.example.com"}
		}, "tls.acme.domains", "tls.acme.domains: cannot be used together with tls.cert_file"},
		{"acme empty domain", func(c *Config) { c.TLS.ACME.Domains = []string{"a.example.com", ""} }, "tls.acme.domains[1]", "tls.acme.domains[1]: must not be empty"},
		{"acme wildcard", func(c *Config) { c.TLS.ACME.Domains = []string{"*.example.com"} }, "tls.acme.domains[0]", `tls.acme.domains[0]: "*.example.com": wildcard names are not supported`},
		{"acme domain with scheme", func(c *Config) { c.TLS.ACME.Domains = []string{"https://example.com"} }, "tls.acme.domains[0]", `tls.acme.domains[0]: "https://example.com" is not a host name`},
		{"acme email", func(c *Config) { c.TLS.ACME.Email = "ops" }, "tls.acme.email", `tls.acme.email: "ops" is not an email address`},
		{"acme ca not https", func(c *Config) { c.TLS.ACME.CA = "http://127.0.0.1:14000/dir" }, "tls.acme.ca", `tls.acme.ca: "http://127.0.0.1:14000/dir" is not an https:// ACME directory URL`},
		// tls.acme.storage_type (acmestorage.go)
		{"acme storage type unknown", func(c *Config) { c.TLS.ACME.StorageType = "s3" }, "tls.acme.storage_type", `tls.acme.storage_type: "s3" is not one of file, redis`},
		{"acme redis storage without the redis store", acmeRedisStorage(func(c *Config) { c.Store.Type = StoreBolt }),
			"tls.acme.storage_type", `tls.acme.storage_type: redis keeps certificates in the session store's Redis and needs store.type redis (got "bolt")`},
		{"acme redis storage with a prefix that breaks the hash tag", acmeRedisStorage(func(c *Config) { c.Store.Redis.Prefix = "{app}:" }),
			"store.redis.prefix", `store.redis.prefix: "{app}:" may not contain '{' or '}'`},
	}
	checkRules(t, tests)
}

func TestValidateAccepts(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
	}{
		{"defaults plus required keys", func(*Config) {}},
		{"all interfaces", func(c *Config) { c.Listen = ":8080" }},
		{"trusted proxies", func(c *Config) {
			c.Server.TrustedProxies = TrustedProxies{"10.0.0.0/8", "192.0.2.7", "::1", "fd00::/8", " 172.16.0.0/12 "}
		}},
		{"IPv6 listen", func(c *Config) { c.Listen = "[::1]:8080" }},
		{"https upstream with a path", func(c *Config) { c.Upstreams[0].URL = "https://app.internal:8443/base/" }},
		{"memory store ignores a broken bolt section", func(c *Config) { c.Store.Type = StoreMemory; c.Store.Bolt.Path = "" }},
		{"bolt store ignores a broken redis section", func(c *Config) { c.Store.Redis.Addrs = nil }},
		{"redis standalone with a db", func(c *Config) { c.Store.Type = StoreRedis; c.Store.Redis.DB = 3 }},
		{"redis sentinel with a db", func(c *Config) {
			c.Store.Type = StoreRedis
			c.Store.Redis.Addrs = []string{"s1:26379", "s2:26379"}
			c.Store.Redis.MasterName = "mymaster"
			c.Store.Redis.DB = 3
		}},
		{"redis cluster", func(c *Config) { c.Store.Type = StoreRedis; c.Store.Redis.Addrs = []string{"a:1", "b:2", "c:3"} }},
		{"secret rotation", func(c *Config) { c.Session.Secrets = []Secret{testCookieSecret2, testCookieSecret} }},
		{"same_site none with secure always", func(c *Config) {
			c.Session.CookieSameSite = SameSiteNone
			c.Session.CookieSecure = CookieSecureAlways
		}},
		{"__Host- cookie", func(c *Config) { c.Session.CookieName = "__Host-sid"; c.Session.CookieSecure = CookieSecureAlways }},
		{"absolute equals idle", func(c *Config) { c.Session.AbsoluteTimeout = c.Session.IdleTimeout }},
		{"tombstones off", func(c *Config) { c.Session.TombstoneTTL = 0 }},
		{"session locking", func(c *Config) { c.Session.Locking = LockingSession }},
		{"session locking with skip paths", func(c *Config) {
			sessionLocking(c)
			c.Session.Lock.SkipPaths = []string{"/static/*", "/poll", "/js/[a-z]*.js", `/literal\*`, "/"}
			c.Session.Lock.OnTimeout = proxy.ProceedOnTimeout
		}},
		{"session lock keys ignored while locking is off", func(c *Config) {
			c.Session.Lock.Wait = 0
			c.Session.Lock.TTL = 0
			c.Session.Lock.SkipPaths = []string{"static/[", ""}
		}},
		{"locks keys ignored while no lock is used", func(c *Config) {
			c.Locks = LocksConfig{RedlockAddrs: []string{"x"}, Prefix: ""}
		}},
		{"session lock ttl below wait", func(c *Config) {
			sessionLocking(c)
			c.Session.Lock.Wait, c.Session.Lock.TTL = time.Minute, time.Second
		}},
		{"redlock with three masters and the bolt store", func(c *Config) {
			sessionLocking(c)
			c.Locks.RedlockAddrs = []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"}
			c.Locks.RedlockPassword = "pw"
		}},
		{"redlock with four masters on one host", func(c *Config) {
			lockService(c)
			c.Locks.RedlockAddrs = []string{"[::1]:6379", "[::1]:6380", "localhost:6381", "127.0.0.1:6382"}
		}},
		{"locks in the store's Redis, under the store's prefix", func(c *Config) {
			sessionLocking(c)
			c.Store.Type = StoreRedis
			c.Locks.Prefix = c.Store.Redis.Prefix
		}},
		{"shortest lock TTLs", func(c *Config) {
			sessionLocking(c)
			lockService(c)
			c.Session.Lock.TTL = time.Millisecond
			c.LockService.MaxTTL = time.Millisecond
		}},
		{"lock service on a remote address", func(c *Config) { lockService(c); c.LockService.Listen = "0.0.0.0:9091" }},
		{"lock service next to admin on another port", func(c *Config) {
			lockService(c)
			c.Admin.Listen, c.Admin.Token = "127.0.0.1:9090", testAdminToken
			c.LockService.Listen = ":9091"
		}},
		{"lock service on listen's port on another address", func(c *Config) {
			lockService(c)
			c.Listen = "127.0.0.1:8080"
			c.LockService.Listen = "10.0.0.5:8080"
		}},
		{"lock service and listen on any free port", func(c *Config) {
			lockService(c)
			c.Listen = "127.0.0.1:0"
			c.LockService.Listen = "127.0.0.1:0"
		}},
		{"lock service keys ignored while off", func(c *Config) {
			c.LockService.Token = "short"
			c.LockService.MaxTTL = 0
			c.LockService.MaxWait = 0
		}},
		{"admin on loopback", func(c *Config) { c.Admin.Listen = "127.0.0.1:9090"; c.Admin.Token = testAdminToken }},
		{"admin on localhost", func(c *Config) { c.Admin.Listen = "localhost:9090"; c.Admin.Token = testAdminToken }},
		{"admin on IPv6 loopback", func(c *Config) { c.Admin.Listen = "[::1]:9090"; c.Admin.Token = testAdminToken }},
		{"admin remote when allowed", func(c *Config) {
			c.Admin.Listen = "0.0.0.0:9090"
			c.Admin.Token = testAdminToken
			c.Admin.AllowRemote = true
		}},
		{"admin token without listen is ignored", func(c *Config) { c.Admin.Token = "short" }},
		{"static certificate", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = "c.pem", "k.pem" }},
		{"acme", func(c *Config) {
			c.TLS.ACME = ACMEConfig{
				Domains: []string{"app.example.com", "www.example.com"},
				Email:   "ops@example.com",
				CA:      "https://127.0.0.1:14000/dir",
				CARoot:  "pebble.minica.pem",
				Storage: "/var/lib/sidecar/certs",
				// Every key must be set: the literal replaces the defaults.
				Challenges:  []ACMEChallenge{ChallengeTLSALPN01},
				StorageType: ACMEStorageFile,
			}
		}},
		{"acme redis storage", acmeRedisStorage(func(*Config) {})},
		{"acme storage type redis is not checked further while ACME is off", func(c *Config) { c.TLS.ACME.StorageType = ACMEStorageRedis }},
		{"console debug logs", func(c *Config) { c.Log = LogConfig{Level: LogDebug, Format: LogConsole, Access: proxy.AccessJSON} }},
		{"combined access log", func(c *Config) { c.Log.Access = proxy.AccessCombined }},
		{"no access log", func(c *Config) { c.Log.Access = proxy.AccessOff }},
		{"no lockout, summaries only", func(c *Config) { c.AuthFailures.Max, c.AuthFailures.LogBurst = 0, 0 }},
		{"weighted upstreams", func(c *Config) {
			c.Upstreams = append(c.Upstreams, Upstream{Name: "app2", URL: "http://127.0.0.1:8082", Weight: 5})
		}},
		{"least_conn", func(c *Config) { c.Proxy.Policy = proxy.LeastConn }},
		{"health checks", func(c *Config) {
			c.Proxy.HealthCheck = HealthCheckConfig{
				Path: "/healthz?deep=1", Interval: time.Second, Timeout: time.Second,
				HealthyThreshold: 1, UnhealthyThreshold: 1, ExpectStatus: 204,
			}
		}},
		{"health check keys ignored while path is empty", func(c *Config) { c.Proxy.HealthCheck.Interval = 0; c.Proxy.HealthCheck.ExpectStatus = 42 }},
		{"passive ejection off ignores cooldown", func(c *Config) { c.Proxy.Passive = PassiveConfig{MaxFails: 0, Cooldown: 0} }},
		{"no ejection cap, no panic", func(c *Config) { c.Proxy.Passive.MaxEjectionPercent = 0; c.Proxy.PanicThreshold = 0 }},
		{"eject all but the last, panic only when none is available", func(c *Config) {
			c.Proxy.Passive.MaxEjectionPercent = 100
			c.Proxy.PanicThreshold = 1
			c.Proxy.Passive.BaseEjection = c.Proxy.Passive.Cooldown
		}},
		{"base_ejection over a short cooldown is capped by it", func(c *Config) { c.Proxy.Passive.Cooldown = 200 * time.Millisecond }},
		{"no retries, no buffering", func(c *Config) { c.Proxy.Retry.Attempts = 1; c.Proxy.Retry.BufferBytes = 0 }},
		{"affinity by upstream name", func(c *Config) { c.Proxy.Affinity.Cookie = "JSESSIONID" }},
		{"affinity with routes", func(c *Config) {
			c.Upstreams = append(c.Upstreams, Upstream{Name: "app.2", URL: "http://127.0.0.1:8082", Weight: 1})
			c.Proxy.Affinity.Cookie = "JSESSIONID"
			c.Proxy.Affinity.Routes = map[string]string{"node1": "app1", "node2": "app.2"}
		}},
		{"affinity map mode", func(c *Config) {
			c.Proxy.Affinity = AffinityConfig{Cookie: "CFID", Mode: proxy.ValueMap, Routes: map[string]string{"czE=": "app1", "a.b": "app1"}}
		}},
		{"affinity routes ignored while off", func(c *Config) { c.Proxy.Affinity.Routes = map[string]string{"x": "nowhere"} }},
		{"handover socket", func(c *Config) {
			c.Server.HandoverSocket = "/run/sidecar/handover.sock"
			c.Store.Type = StoreRedis
		}},
		{"handover socket with the memory store", func(c *Config) {
			c.Server.HandoverSocket = "/run/sidecar/handover.sock"
			c.Store.Type = StoreMemory
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			assert.NoError(t, c.Validate())
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Listen = ""
	c.Store.Type = "mongo"
	c.Session.Secrets = []Secret{"a", "b"}
	c.Log.Level = "loud"

	err := c.Validate()
	require.Error(t, err)
	assert.Equal(t, []string{
		"listen", "upstreams", "store.type", "session.secrets[0]", "session.secrets[1]", "headers.secret", "log.level",
	}, errorKeys(err))
	assert.Len(t, strings.Split(err.Error(), "\n"), 7, "one line per problem")
}
