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
	// DefaultMaxBytes is Options.MaxBytes's default.
	DefaultMaxBytes = 8192
	// DefaultStoreTimeout is Options.StoreTimeout's default.
	DefaultStoreTimeout = 2 * time.Second
	// DefaultTombstoneTTL is Options.TombstoneTTL's default: long enough
	// for every request the browser sent before the login's Set-Cookie
	// reached it to arrive and be answered (the proxy gives an app 60s by
	// default to start answering), with room for slow uploads and client
	// retries; short enough that the tombstones of a busy login page stay
	// a small fraction of the store.
	DefaultTombstoneTTL = 5 * time.Minute

	// DefaultIssuer is HeaderOptions.Issuer's default.
	DefaultIssuer = "sidecar"
	// DefaultAudience is HeaderOptions.Audience's default.
	DefaultAudience = "app"
	// DefaultHeaderTTL is HeaderOptions.TTL's default.
	DefaultHeaderTTL = 60 * time.Second
)
