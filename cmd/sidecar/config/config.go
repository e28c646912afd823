package config

import (
	"net/url"
	"os"
	"time"

	"github.com/sidecarproxy/sidecar/internal/gcfloor"
	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/lockservice"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/server"
	"github.com/sidecarproxy/sidecar/sessions"
	boltstore "github.com/sidecarproxy/sidecar/stores/bolt"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
)

// Config is Sidecar's whole configuration. The koanf tag of each field is
// its key in the YAML file; nested keys are written in dotted form
// ("session.idle_timeout") in documentation and error messages.
//
// Obtain one with [Load] (defaults, file, environment, secret files,
// validation) or start from [Default] in tests.
type Config struct {
	// Listen is the client-facing address. Default "127.0.0.1:8080".
	Listen string `koanf:"listen"`
	// Upstreams are the app servers behind the proxy. Required: at least
	// one. An entry's keys that are not given take the defaults of
	// defaultUpstream (weight 1).
	Upstreams []Upstream    `koanf:"upstreams"`
	Server    ServerConfig  `koanf:"server"`
	Limits    LimitsConfig  `koanf:"limits"`
	Proxy     ProxyConfig   `koanf:"proxy"`
	Store     StoreConfig   `koanf:"store"`
	Session   SessionConfig `koanf:"session"`
	// Locks says where locks live, for session locking and the lock
	// service.
	Locks   LocksConfig   `koanf:"locks"`
	Headers HeadersConfig `koanf:"headers"`
	Admin   AdminConfig   `koanf:"admin"`
	// LockService is the HTTP lock service for the apps; off by default.
	LockService LockServiceConfig `koanf:"lock_service"`
	Log         LogConfig         `koanf:"log"`
	TLS         TLSConfig         `koanf:"tls"`

	// Ops is the probes and metrics listener; off by default (ops.go).
	Ops OpsConfig `koanf:"ops"`
	// AuthFailures bounds failed tokens on the admin API and the lock
	// service (logs.go).
	AuthFailures AuthFailuresConfig `koanf:"auth_failures"`
	Runtime      RuntimeConfig      `koanf:"runtime"` // the Go runtime (runtime.go)
	// ignoredEnv are the warnings about SIDECAR_ variables that name no
	// key, which [Load] skipped; [Config.Warnings] returns them. Not a key.
	ignoredEnv []string
}

// Upstream is one app server.
type Upstream struct {
	// Name identifies the upstream in logs and metrics: unique, non-empty,
	// made of letters, digits, '.', '-' and '_'.
	Name string `koanf:"name"`
	// URL is the upstream's base URL: http or https, with a host, no
	// credentials.
	URL string `koanf:"url"`
	// Weight is the upstream's share of the requests relative to the
	// others, under either [proxy.Policy]: at least 1. Default 1 (also for
	// entries of SIDECAR_UPSTREAMS without ";weight=").
	Weight int `koanf:"weight"`
}

// ServerConfig holds the timeouts of the client-facing HTTP server.
type ServerConfig struct {
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout time.Duration `koanf:"read_header_timeout"`
	// IdleTimeout closes idle keep-alive client connections. Default 120s.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// ShutdownTimeout is how long a graceful shutdown waits for in-flight
	// requests. Default 30s.
	ShutdownTimeout time.Duration `koanf:"shutdown_timeout"`
	// HandoverSocket is the unix socket through which a running Sidecar
	// hands its listeners to a new Sidecar process, for upgrades without
	// downtime: an absolute path of at most 104 bytes. Default "":
	// disabled.
	HandoverSocket string `koanf:"handover_socket"`
	// TrustedProxies are the load balancers whose forwarding headers
	// Sidecar believes. Default []: nobody.
	TrustedProxies TrustedProxies `koanf:"trusted_proxies"`
}

// HandoverEnabled reports whether listener handover is on (HandoverSocket
// is set).
func (s ServerConfig) HandoverEnabled() bool { return s.HandoverSocket != "" }

// ProxyConfig tunes the transport to the upstreams and the pool that
// chooses among them.
type ProxyConfig struct {
	// DialTimeout bounds connecting to an upstream. Default 5s.
	DialTimeout time.Duration `koanf:"dial_timeout"`
	// ResponseHeaderTimeout bounds waiting for an upstream's response
	// headers. Default 60s.
	ResponseHeaderTimeout time.Duration `koanf:"response_header_timeout"`
	// IdleConnTimeout closes idle upstream connections. Default 90s.
	IdleConnTimeout time.Duration `koanf:"idle_conn_timeout"`
	// MaxIdleConnsPerHost is the idle connection pool per upstream. Default
	// 256 (Go's default of 2 churns connections under load).
	MaxIdleConnsPerHost int `koanf:"max_idle_conns_per_host"`
	// Upgrades lists the protocols clients may switch to (Upgrade header);
	// any other Upgrade is stripped and the request goes on as plain HTTP.
	// h2c is refused: its tunnel would bypass Sidecar. Default [websocket].
	Upgrades []string `koanf:"upgrades"`
	// Policy chooses the upstream of each request: round_robin or
	// least_conn. Default [proxy.RoundRobin].
	Policy proxy.Policy `koanf:"policy"`
	// PanicThreshold is the percentage of the non-draining upstreams that
	// must be available (healthy and not ejected), 0 to 100, for health
	// checks and ejection to be obeyed. Below it Sidecar is in panic mode
	// and sends requests to every non-draining upstream rather than answer
	// 503. 0 never panics. Default 50 ([proxy.DefaultPanicThreshold]).
	PanicThreshold int `koanf:"panic_threshold"`
	// HealthCheck configures active health checks; off by default.
	HealthCheck HealthCheckConfig `koanf:"health_check"`
	// Passive configures ejection on failures of live requests; on by
	// default.
	Passive PassiveConfig `koanf:"passive"`
	// Retry configures retries on another upstream.
	Retry RetryConfig `koanf:"retry"`
	// Affinity routes legacy sticky sessions; off by default.
	Affinity AffinityConfig `koanf:"affinity"`
	// UpstreamTLS is how https:// upstreams are trusted and what Sidecar
	// presents to them; see [BackendTLSConfig]. Default: the system's
	// roots, no client certificate.
	UpstreamTLS BackendTLSConfig `koanf:"upstream_tls"`
	// ErrorPages replaces the pages of Sidecar's 502, 503 and 504; see
	// [ErrorPagesConfig]. Default: the built-in pages.
	ErrorPages ErrorPagesConfig `koanf:"error_pages"`
}

// StoreConfig selects and configures the session store.
type StoreConfig struct {
	// Type selects the backend. Default [StoreBolt].
	Type StoreType `koanf:"type"`
	// Timeout is the budget for one store operation. Default 2s.
	Timeout time.Duration `koanf:"timeout"`
	// RetryAfter is sent as Retry-After with a 503 when the store cannot be
	// reached: whole seconds, at least 1s. Default 2s.
	RetryAfter time.Duration `koanf:"retry_after"`
	Bolt       BoltConfig    `koanf:"bolt"`
	Redis      RedisConfig   `koanf:"redis"`
}

// BoltConfig configures the embedded bbolt store (store.type: bolt).
type BoltConfig struct {
	// Path is the database file. Default "sidecar.db".
	Path string `koanf:"path"`
	// SweepInterval is how often expired sessions are deleted. Default 1m.
	SweepInterval time.Duration `koanf:"sweep_interval"`
	// NoSync skips fsync after each write: faster, but a crash may lose the
	// latest writes. Default false.
	NoSync bool `koanf:"no_sync"`
}

// RedisConfig configures the Redis store (store.type: redis). One address
// means a standalone server, several a cluster; with MasterName the
// addresses are Sentinels.
type RedisConfig struct {
	// Addrs are host:port addresses, or rediss://host:port for servers
	// that speak TLS (all or none; see TLS). Default ["127.0.0.1:6379"].
	Addrs []string `koanf:"addrs"`
	// MasterName is the Sentinel master name; empty: no Sentinel.
	MasterName string `koanf:"master_name"`
	// Username is the ACL user; empty: the default user.
	Username string `koanf:"username"`
	// Password is the Redis password; alternatively PasswordFile.
	Password Secret `koanf:"password"`
	// PasswordFile is a file holding the password.
	PasswordFile string `koanf:"password_file"`
	// DB is the database number (standalone and Sentinel only). Default 0.
	DB int `koanf:"db"`
	// Prefix is prepended to every key. Default "sidecar:".
	Prefix string `koanf:"prefix"`
	// PoolSize is the connection pool size; 0: the client's default (10 per
	// CPU).
	PoolSize int `koanf:"pool_size"`
	// TLS is how the servers of rediss:// addresses are trusted and what
	// Sidecar presents to them (with Sentinel: the Sentinels and the
	// master alike); see [BackendTLSConfig].
	TLS BackendTLSConfig `koanf:"tls"`
	// Cache keeps the sessions this Sidecar reads in memory, kept fresh
	// by Redis's invalidation messages (CLIENT TRACKING) on every master,
	// so that most reads cost no round trip; a write through another
	// Sidecar is seen within CacheStaleness (docs/redis-cache.md).
	// Default true.
	Cache bool `koanf:"cache"`
	// CacheMaxEntries bounds the sessions cached. Default 100000.
	CacheMaxEntries int `koanf:"cache_max_entries"`
	// CacheMaxBytes bounds an estimate of the memory they take. Default
	// 67108864 (64 MiB).
	CacheMaxBytes int `koanf:"cache_max_bytes"`
	// CacheStaleness bounds how long after a write through another
	// Sidecar this one may still serve the session as it was, at least
	// 10ms and at most 10s: the cache heartbeats every master every
	// quarter of it, and is bypassed once a heartbeat is late. Default
	// 50ms.
	CacheStaleness time.Duration `koanf:"cache_staleness"`
}

// SessionConfig configures the session cookie and session lifetimes.
type SessionConfig struct {
	// CookieName is the cookie's name, a valid cookie-name token. Default
	// "sidecar_sid".
	CookieName string `koanf:"cookie_name"`
	// CookiePath is the cookie's Path attribute. Default "/".
	CookiePath string `koanf:"cookie_path"`
	// CookieDomain is the cookie's Domain attribute; empty: host-only.
	CookieDomain string `koanf:"cookie_domain"`
	// CookieSameSite is the SameSite attribute. Default [SameSiteLax].
	CookieSameSite SameSite `koanf:"cookie_same_site"`
	// CookieSecure decides the Secure attribute. Default [CookieSecureAuto].
	CookieSecure CookieSecure `koanf:"cookie_secure"`
	// CookiePersistent sets Max-Age up to the absolute timeout; false: a
	// browser-session cookie. Default false.
	CookiePersistent bool `koanf:"cookie_persistent"`
	// StripCookie removes Sidecar's cookie from the Cookie header sent
	// upstream. Default true.
	StripCookie bool `koanf:"strip_cookie"`
	// Secrets are the cookie HMAC keys: the first signs, all verify. Each is
	// at least 32 bytes. Required (here or in SecretsFile).
	Secrets []Secret `koanf:"secrets"`
	// SecretsFile holds one secret per line; blank lines and lines starting
	// with '#' are ignored.
	SecretsFile string `koanf:"secrets_file"`
	// IdleTimeout is the sliding inactivity timeout. Default 30m.
	IdleTimeout time.Duration `koanf:"idle_timeout"`
	// AbsoluteTimeout caps a session's life from its creation; at least
	// IdleTimeout. Default 12h.
	AbsoluteTimeout time.Duration `koanf:"absolute_timeout"`
	// TouchInterval is the minimum time between two writes that only extend
	// the idle expiry; less than IdleTimeout. Default 1m.
	TouchInterval time.Duration `koanf:"touch_interval"`
	// MaxBytes caps a session's size: the sum over its attributes of the
	// name's length plus the compact JSON value's. A write past it gets
	// 502; a session already larger (written under a larger max_bytes)
	// takes writes that do not grow it. Default 2048
	// ([sessions.DefaultMaxBytes]), which fits the default
	// headers.max_bytes; see [Config.Warnings].
	MaxBytes int `koanf:"max_bytes"`
	// TombstoneTTL is how long a cookie that a regenerate (login) replaced
	// is still recognised: its requests are served as anonymous with the
	// "replaced" claim, and their writes are refused with 409 instead of
	// creating a session whose cookie would log the browser out. 0 turns
	// tombstones off. Default 5m.
	TombstoneTTL time.Duration `koanf:"tombstone_ttl"`
	// Locking serialises a session's requests when [LockingSession].
	// Default [LockingOff].
	Locking Locking `koanf:"locking"`
	// Lock configures the lock of LockingSession.
	Lock SessionLockConfig `koanf:"lock"`
}

// HeadersConfig configures the X-Sidecar-* headers and the session JWT.
type HeadersConfig struct {
	// Prefix is the reserved header-name prefix. Default "X-Sidecar-".
	Prefix string `koanf:"prefix"`
	// Algorithm signs the session header: [sessions.HS256] (the default)
	// with Secret, which every app then holds; or [sessions.EdDSA]
	// (Ed25519) / [sessions.ES256] (P-256, for Java 11 runtimes) with
	// KeyFiles, which apps verify with the public keys alone (the JWKS
	// that ops.listen serves at /.well-known/jwks.json). Changing it takes
	// a restart. Checked by [sessions.Algorithm.Validate].
	Algorithm sessions.Algorithm `koanf:"algorithm"`
	// Secret is the HS256 key shared with the apps: at least 32 bytes and
	// different from every session secret. Required (here or in
	// SecretFile) with HS256; unused, and warned about, with EdDSA and
	// ES256.
	Secret Secret `koanf:"secret"`
	// SecretFile is a file holding Secret.
	SecretFile string `koanf:"secret_file"`
	// KeyFiles are the private keys of EdDSA and ES256: PEM files, each
	// one PKCS#8 "PRIVATE KEY" (`sidecar keygen --algorithm EdDSA` makes
	// one), Ed25519 or P-256. The first signs and must fit Algorithm;
	// every one is published in the JWKS, each with its own algorithm (so a
	// P-256 key may follow Ed25519 ones while moving from ES256 to EdDSA).
	// To rotate, put the new file first, keep the old one until the tokens
	// it signed have expired (TTL), and send SIGHUP: the files are read
	// again on every reload. Required with EdDSA and ES256; not allowed
	// with HS256.
	KeyFiles []string `koanf:"key_files"`
	// keys are the keys of KeyFiles, read by Load; nil until then. A
	// pointer, so that printing the config (%v, %#v) shows an address, never
	// the private keys.
	keys *headerKeys
	// Issuer is the JWT "iss" claim. Default "sidecar".
	Issuer string `koanf:"issuer"`
	// Audience is the JWT "aud" claim. Default "app".
	Audience string `koanf:"audience"`
	// TTL is the JWT lifetime ("exp" - "iat"). Default 60s.
	TTL time.Duration `koanf:"ttl"`
	// MaxBytes is the header budget: the longest X-Sidecar-Session value
	// Sidecar sends. A write after which the session's header would be
	// longer gets 502; a session already over it (written before) is sent
	// without its data. At least 1024. Default 4096
	// ([sessions.DefaultHeaderMaxBytes]): what default nginx, Apache httpd
	// and Tomcat accept next to a browser's own headers.
	MaxBytes int `koanf:"max_bytes"`
	// AllowUnderscores keeps client request headers with '_' in their
	// names. Default false: they are dropped, as nginx does
	// (underscores_in_headers off), since CGI, PHP-FPM and WSGI read
	// X_Forwarded_For as X-Forwarded-For.
	AllowUnderscores bool `koanf:"allow_underscores"`
}

// AdminConfig configures the admin API.
type AdminConfig struct {
	// Listen is the admin address; empty (the default) disables the admin
	// API.
	Listen string `koanf:"listen"`
	// Token is the bearer token, at least 16 bytes; required when Listen is
	// set (here or in TokenFile).
	Token Secret `koanf:"token"`
	// TokenFile is a file holding Token.
	TokenFile string `koanf:"token_file"`
	// AllowRemote permits a non-loopback Listen address. Default false.
	AllowRemote bool `koanf:"allow_remote"`
	// Hosts are the host names (no port) the status page answers to
	// besides IP addresses, localhost and Listen's own name. Default none.
	Hosts []string `koanf:"hosts"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is the minimum level. Default [LogInfo].
	Level LogLevel `koanf:"level"`
	// Format is the output format. Default [LogJSON].
	Format LogFormat `koanf:"format"`
	// Access is the access log's format: json (an event in this log),
	// combined (NCSA combined lines on standard output) or off. Default
	// [proxy.AccessJSON].
	Access proxy.AccessLogFormat `koanf:"access"`
}

// TLSConfig configures TLS on the client-facing listener. Neither a
// certificate nor ACME (the default) means plain HTTP. Every key takes a
// restart. The rules between these keys are in tls.go.
type TLSConfig struct {
	// CertFile and KeyFile are a static certificate and its key: both or
	// neither. A running Sidecar serves the new pair when the files change
	// (tlsedge.FileCertificate).
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
	// MinVersion is the oldest TLS version accepted. Default [TLS12].
	MinVersion TLSVersion `koanf:"min_version"`
	// HTTPListen is a plain-HTTP address whose every request is redirected
	// to HTTPS (308), except ACME HTTP-01 challenges, which it answers.
	// Default "": off.
	HTTPListen string `koanf:"http_listen"`
	// HTTPSPort is the HTTPS port clients reach, put in the redirects of
	// HTTPListen (left out when 443). 0 (the default): the port of listen;
	// set it when a port forward puts Sidecar's listen behind another port.
	HTTPSPort int `koanf:"https_port"`
	// HSTS is the max-age of the Strict-Transport-Security header added to
	// every HTTPS response: whole seconds. Default 0: no header.
	HSTS time.Duration `koanf:"hsts"`
	// ACME obtains certificates automatically; not with CertFile.
	ACME ACMEConfig `koanf:"acme"`
}

// ACMEConfig configures automatic certificates. Setting Domains turns
// ACME on.
type ACMEConfig struct {
	// Domains are the host names to obtain certificates for.
	Domains []string `koanf:"domains"`
	// Email is the ACME account contact; optional.
	Email string `koanf:"email"`
	// CA is the ACME directory URL; empty: Let's Encrypt production.
	CA string `koanf:"ca"`
	// CARoot is a PEM file of root certificates to trust, besides the
	// system's, for the connection to a private or test ACME CA.
	CARoot string `koanf:"ca_root"`
	// Storage is the directory for certificates, their keys and the ACME
	// account (created, mode 0700). Default "sidecar-acme".
	Storage string `koanf:"storage"`
	// StorageType is where certificates live: file (Storage) or redis,
	// shared by a fleet. Default [ACMEStorageFile].
	StorageType ACMEStorageType `koanf:"storage_type"`
	// Challenges are the ACME challenges offered to the CA, any of
	// [ChallengeHTTP01] and [ChallengeTLSALPN01]; at least one. Default
	// both.
	Challenges []ACMEChallenge `koanf:"challenges"`
	// HTTPPort is the local port HTTP-01 challenges are answered on. When
	// tls.http_listen is on it must be its port (0, the default, means
	// that); without it Sidecar listens on HTTPPort (0: 80) only while a
	// challenge is in progress. The CA always connects to port 80: a
	// port forward may put HTTPPort behind it.
	HTTPPort int `koanf:"http_port"`
	// TLSALPNPort is the local port TLS-ALPN-01 challenges are answered
	// on; 0 (the default): the port of listen, which answers them. The CA
	// always connects to port 443.
	TLSALPNPort int `koanf:"tls_alpn_port"`
}

// Default returns the configuration used before the file and the
// environment are applied. It is the only place the configuration's
// defaults are set, with defaultUpstream next to it for the keys of each
// upstreams entry. It has no upstreams and no secrets, so it does not
// validate on its own.
//
// A key that configures a library option takes that option's default,
// the library's exported Default constant (proxy.DefaultDialTimeout,
// sessions.DefaultIdleTimeout, lock.DefaultPrefix ...), so each number is
// written once. Every key holds its effective value: a Config never leaves
// a key at zero for a library to fill in, which is why [Config.String]
// shows what runs and why zero keeps the meaning the key documents (no
// retry buffer, no passive ejection) instead of "the library's default".
// The keys without a library default (listen, server.*, store.type,
// store.bolt.path, store.redis.addrs, proxy.passive.max_fails, the cookie
// modes, log.*, tls.*) are written here.
func Default() Config {
	return Config{
		Listen: "127.0.0.1:8080",
		Server: ServerConfig{
			ReadHeaderTimeout: server.DefaultReadHeaderTimeout,
			IdleTimeout:       server.DefaultIdleTimeout,
			ShutdownTimeout:   server.DefaultShutdownTimeout,
			TrustedProxies:    TrustedProxies{},
		},
		Limits: LimitsConfig{
			MaxHeaderBytes:  proxy.DefaultMaxHeaderBytes,
			BodyReadTimeout: proxy.DefaultBodyReadTimeout,
			MinUploadRate:   proxy.DefaultMinUploadRate,
			MinUploadGrace:  proxy.DefaultMinUploadGrace,
			Buffer: BodyBufferConfig{
				MemoryBytes:  proxy.DefaultBufferMemoryBytes,
				DiskBytes:    proxy.DefaultBufferDiskBytes,
				MaxFileBytes: proxy.DefaultBufferMaxFileBytes,
				TempDir:      os.TempDir(),
			},
		},
		Proxy: ProxyConfig{
			DialTimeout:           proxy.DefaultDialTimeout,
			ResponseHeaderTimeout: proxy.DefaultResponseHeaderTimeout,
			IdleConnTimeout:       proxy.DefaultIdleConnTimeout,
			MaxIdleConnsPerHost:   proxy.DefaultMaxIdleConnsPerHost,
			Upgrades:              []string{proxy.DefaultUpgrade},
			Policy:                proxy.RoundRobin,
			PanicThreshold:        proxy.DefaultPanicThreshold,
			HealthCheck: HealthCheckConfig{
				Interval:           proxy.DefaultHealthInterval,
				Timeout:            proxy.DefaultHealthTimeout,
				HealthyThreshold:   proxy.DefaultHealthyThreshold,
				UnhealthyThreshold: proxy.DefaultUnhealthyThreshold,
			},
			Passive: PassiveConfig{
				MaxFails:           2, // the library's zero value is off
				Cooldown:           proxy.DefaultCooldown,
				BaseEjection:       proxy.DefaultBaseEjection,
				MaxEjectionPercent: proxy.DefaultMaxEjectionPercent,
			},
			Retry: RetryConfig{
				Attempts:    proxy.DefaultRetryAttempts,
				Timeout:     proxy.DefaultRetryTimeout,
				BufferBytes: proxy.DefaultRetryBufferBytes,
			},
			Affinity: AffinityConfig{
				Mode:   proxy.RouteSuffix,
				Routes: map[string]string{},
			},
			UpstreamTLS: defaultBackendTLS(),
		},
		Store: StoreConfig{
			Type:       StoreBolt,
			Timeout:    sessions.DefaultStoreTimeout,
			RetryAfter: proxy.DefaultRetryAfter,
			Bolt: BoltConfig{
				Path:          "sidecar.db",
				SweepInterval: boltstore.DefaultSweepInterval,
			},
			Redis: RedisConfig{
				Addrs:           []string{"127.0.0.1:6379"},
				Prefix:          redisstore.DefaultPrefix,
				TLS:             defaultBackendTLS(),
				Cache:           true,
				CacheMaxEntries: redisstore.DefaultCacheMaxEntries,
				CacheMaxBytes:   redisstore.DefaultCacheMaxBytes,
				CacheStaleness:  redisstore.DefaultCacheStaleness,
			},
		},
		Session: SessionConfig{
			CookieName:      proxy.DefaultCookieName,
			CookiePath:      proxy.DefaultCookiePath,
			CookieSameSite:  SameSiteLax,
			CookieSecure:    CookieSecureAuto,
			StripCookie:     true,
			IdleTimeout:     sessions.DefaultIdleTimeout,
			AbsoluteTimeout: sessions.DefaultAbsoluteTimeout,
			TouchInterval:   sessions.DefaultTouchInterval,
			MaxBytes:        sessions.DefaultMaxBytes,
			TombstoneTTL:    sessions.DefaultTombstoneTTL,
			Locking:         LockingOff,
			Lock: SessionLockConfig{
				Wait:      proxy.DefaultLockWait,
				TTL:       proxy.DefaultLockTTL,
				OnTimeout: proxy.RejectOnTimeout,
				SkipPaths: []string{},
			},
		},
		Runtime: RuntimeConfig{GCMinHeapBytes: gcfloor.DefaultMinHeap},
		Locks: LocksConfig{
			RedlockAddrs: []string{},
			Prefix:       lock.DefaultPrefix,
			RedlockTLS:   defaultBackendTLS(),
		},
		Headers: HeadersConfig{
			Algorithm: sessions.HS256,
			KeyFiles:  []string{},
			Prefix:    proxy.DefaultPrefix,
			Issuer:    sessions.DefaultIssuer,
			Audience:  sessions.DefaultAudience,
			TTL:       sessions.DefaultHeaderTTL,
			MaxBytes:  sessions.DefaultHeaderMaxBytes,
		},
		LockService: LockServiceConfig{
			MaxTTL:  lockservice.DefaultMaxTTL,
			MaxWait: lockservice.DefaultMaxWait,
		},
		AuthFailures: defaultAuthFailures(),
		Log: LogConfig{
			Level:  LogInfo,
			Format: LogJSON,
			Access: proxy.AccessJSON,
		},
		TLS: TLSConfig{
			MinVersion: TLS12,
			ACME: ACMEConfig{
				Storage:     "sidecar-acme",
				StorageType: ACMEStorageFile,
				Challenges:  []ACMEChallenge{ChallengeHTTP01, ChallengeTLSALPN01},
			},
		},
	}
}

// defaultUpstream holds the defaults of the keys of one upstreams entry;
// [Load] starts every entry from it. It belongs with [Default]: Default
// has no upstreams to carry them.
func defaultUpstream() Upstream {
	return Upstream{Weight: 1}
}

// The placeholder secrets shipped in config.example.yaml.
const (
	exampleCookieSecret = "example-cookie-secret-change-me-0123456789"
	exampleHeaderSecret = "example-header-secret-change-me-0123456789"
	exampleAdminToken   = "example-admin-token-change-me"
	exampleLockToken    = "example-lock-token-change-me"
)

// UsesExampleSecrets reports whether any cookie secret, the header secret,
// the admin token or the lock service token is one of the placeholders
// shipped in config.example.yaml. Such a configuration runs, but its
// secrets are public.
func (c Config) UsesExampleSecrets() bool {
	isExample := func(s Secret) bool {
		switch string(s) {
		case exampleCookieSecret, exampleHeaderSecret, exampleAdminToken, exampleLockToken:
			return true
		}
		return false
	}
	for _, s := range c.Session.Secrets {
		if isExample(s) {
			return true
		}
	}
	return isExample(c.Headers.Secret) || isExample(c.Admin.Token) || isExample(c.LockService.Token)
}

// ParseURL parses the upstream's URL. It does not fail for a validated
// Config.
func (u Upstream) ParseURL() (*url.URL, error) {
	return url.Parse(u.URL)
}

// SecretBytes returns the cookie secrets as HMAC keys, signing key first.
func (s SessionConfig) SecretBytes() [][]byte {
	keys := make([][]byte, len(s.Secrets))
	for i, sec := range s.Secrets {
		keys[i] = sec.Bytes()
	}
	return keys
}

// Enabled reports whether the admin API is on (Listen is set).
func (a AdminConfig) Enabled() bool { return a.Listen != "" }

// Enabled reports whether ACME is on (Domains is set).
func (a ACMEConfig) Enabled() bool { return len(a.Domains) > 0 }
