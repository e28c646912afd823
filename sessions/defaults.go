package sessions

import "time"

// Defaults for the zero values of the option structs' fields. They are
// written only here: the structs' withDefaults methods apply them, and
// Sidecar's configuration (cmd/sidecar/config) starts from them.
const (
	// DefaultIdleTimeout is Options.IdleTimeout's default.
	DefaultIdleTimeout = 30 * time.Minute
	// DefaultAbsoluteTimeout is Options.AbsoluteTimeout's default.
	DefaultAbsoluteTimeout = 12 * time.Hour
	// DefaultTouchInterval is Options.TouchInterval's default.
	DefaultTouchInterval = time.Minute
	// DefaultMaxBytes is Options.MaxBytes's default: the largest session
	// whose header, with a principal of MaxPrincipalBytes and some fifty
	// attributes, fits DefaultHeaderMaxBytes (a one-attribute session of
	// 2048 bytes makes a header of 3135 bytes).
	DefaultMaxBytes = 2048
	// DefaultStoreTimeout is Options.StoreTimeout's default.
	DefaultStoreTimeout = 2 * time.Second

	// DefaultIssuer is HeaderOptions.Issuer's default.
	DefaultIssuer = "sidecar"
	// DefaultAudience is HeaderOptions.Audience's default.
	DefaultAudience = "app"
	// DefaultHeaderTTL is HeaderOptions.TTL's default.
	DefaultHeaderTTL = 60 * time.Second
	// DefaultHeaderMaxBytes is HeaderOptions.MaxBytes's default: a
	// header that default nginx, Apache httpd and Tomcat accept with room
	// for the browser's own headers (README, "How big a session may get").
	DefaultHeaderMaxBytes = 4096
)
