package proxy

import "time"

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
)
