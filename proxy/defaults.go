package proxy

import (
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Defaults for the zero values of the option structs' fields. They are
// written only here: the structs' withDefaults methods apply them, and
// Sidecar's configuration (cmd/sidecar/config) starts from them.
const (
	// DefaultPrefix is Options.Prefix's default.
	DefaultPrefix = "X-Sidecar-"
	// DefaultUpgrade is the one protocol Options.Upgrades allows by
	// default.
	DefaultUpgrade = "websocket"
	// DefaultRetryAfter is Options.RetryAfter's default.
	DefaultRetryAfter = 2 * time.Second

	// DefaultCookieName is CookieOptions.Name's default.
	DefaultCookieName = "sidecar_sid"
	// DefaultCookiePath is CookieOptions.Path's default.
	DefaultCookiePath = "/"

	// DefaultLockWait is Locking.Wait's default.
	DefaultLockWait = 5 * time.Second
	// DefaultLockTTL is Locking.TTL's default.
	DefaultLockTTL = 30 * time.Second

	// DefaultDialTimeout is TransportOptions.DialTimeout's default.
	DefaultDialTimeout = 5 * time.Second
	// DefaultResponseHeaderTimeout is
	// TransportOptions.ResponseHeaderTimeout's default.
	DefaultResponseHeaderTimeout = 60 * time.Second
	// DefaultIdleConnTimeout is TransportOptions.IdleConnTimeout's default.
	DefaultIdleConnTimeout = 90 * time.Second
	// DefaultMaxIdleConnsPerHost is TransportOptions.MaxIdleConnsPerHost's
	// default.
	DefaultMaxIdleConnsPerHost = 256
	// DefaultMaxResponseHeaderBytes is
	// TransportOptions.MaxResponseHeaderBytes's default (64 KiB): twice
	// the patch limit at the default session.max_bytes (4 x 8 KiB), and
	// about Envoy's default (60 KiB). nginx in front of an app already
	// stops at 4-8 KiB (proxy_buffer_size).
	DefaultMaxResponseHeaderBytes = 64 << 10

	// DefaultHealthInterval is HealthCheck.Interval's default.
	DefaultHealthInterval = 5 * time.Second
	// DefaultHealthTimeout is HealthCheck.Timeout's default.
	DefaultHealthTimeout = 2 * time.Second
	// DefaultHealthyThreshold is HealthCheck.HealthyThreshold's default.
	DefaultHealthyThreshold = 2
	// DefaultUnhealthyThreshold is HealthCheck.UnhealthyThreshold's
	// default.
	DefaultUnhealthyThreshold = 2

	// DefaultCooldown is Passive.Cooldown's default: the longest an
	// ejection lasts once backoff has doubled it.
	DefaultCooldown = 10 * time.Second
	// DefaultBaseEjection is Passive.BaseEjection's default: the first
	// ejection of an upstream lasts this long before its probe.
	DefaultBaseEjection = 1 * time.Second
	// DefaultMaxEjectionPercent is Passive.MaxEjectionPercent's default:
	// at most half of the non-draining upstreams are ejected at once.
	DefaultMaxEjectionPercent = 50
	// DefaultPanicThreshold is PoolOptions.PanicThreshold's default: when
	// fewer than half of the non-draining upstreams are available, every
	// non-draining one is used.
	DefaultPanicThreshold = 50

	// DefaultRetryAttempts is RetryOptions.Attempts's default.
	DefaultRetryAttempts = 3
	// DefaultRetryTimeout is RetryOptions.Timeout's default.
	DefaultRetryTimeout = 15 * time.Second
	// DefaultRetryBufferBytes is RetryOptions.BufferBytes's default (1 MiB).
	DefaultRetryBufferBytes = 1 << 20

	// AppServerHeaderBytes is the request head the strictest common app
	// server accepts at its defaults: Tomcat's maxHttpHeaderSize, 8 KiB
	// for the request line and all headers together. nginx
	// (large_client_header_buffers 4 8k) and Apache httpd
	// (LimitRequestFieldSize 8190) limit each line to about 8 KiB and
	// accept more in total.
	AppServerHeaderBytes = 8192
	// HeaderReserveBytes is what Sidecar adds to a request head besides
	// the X-Sidecar-Session value: its name and CRLF (21 bytes),
	// X-Request-Id (48), X-Forwarded-For (at most 60 for one address),
	// X-Forwarded-Proto (26) and X-Forwarded-Host (20 + the host), with
	// room for a host of about 300 bytes.
	HeaderReserveBytes = 512
	// DefaultMaxHeaderBytes is Limits.MaxHeaderBytes's default (3584):
	// what is left of AppServerHeaderBytes once Sidecar has added a
	// session header at the default headers.max_bytes and its other
	// headers, so that Tomcat at its defaults accepts every request
	// Sidecar passes on. A desktop browser's request with 2 KB of cookies
	// is about 2,900 bytes.
	DefaultMaxHeaderBytes = AppServerHeaderBytes - sessions.DefaultHeaderMaxBytes - HeaderReserveBytes
	// DefaultBodyReadTimeout is Limits.BodyReadTimeout's default: nginx's
	// client_body_timeout is 60s, Apache's mod_reqtimeout 20s.
	DefaultBodyReadTimeout = 30 * time.Second
	// DefaultMinUploadRate is Limits.MinUploadRate's default, in bytes per
	// second (Apache's mod_reqtimeout uses 500).
	DefaultMinUploadRate = 1024
	// DefaultMinUploadGrace is Limits.MinUploadGrace's default.
	DefaultMinUploadGrace = 10 * time.Second
	// DefaultBufferMemoryBytes is BufferOptions.MemoryBytes's default
	// (64 MiB for the whole process).
	DefaultBufferMemoryBytes = 64 << 20
	// DefaultBufferDiskBytes is BufferOptions.DiskBytes's default (1 GiB
	// of temporary files for the whole process).
	DefaultBufferDiskBytes = 1 << 30
	// DefaultBufferMaxFileBytes is BufferOptions.MaxFileBytes's default
	// (128 MiB per request).
	DefaultBufferMaxFileBytes = 128 << 20
)
