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
	// 2048 bytes makes a header of 3177 bytes with a 64-character request id).
	DefaultMaxBytes = 2048
	// DefaultMaxPatchDepth is PatchLimits.MaxDepth's default: a patch
	// nests at most 32 deep, so the session JWT's payload nests at most 33
	// deep. The strictest common decoders stop at 64 (.NET's
	// System.Text.Json and Json.NET) and 100 (Ruby's JSON.parse); PHP's
	// json_decode at 511 (depth 512) and Python's json.loads near 1000.
	DefaultMaxPatchDepth = 32
	// PatchBytesFactor times Options.MaxBytes is the most bytes the patch
	// headers of one response may hold together (PatchLimits.MaxBytes).
	// Set members become stored bytes nearly one for one; the factor
	// leaves room for deletions (a patch may replace every attribute),
	// white space, and names escaped as \uXXXX (PHP's json_encode does
	// that to every non-ASCII character).
	PatchBytesFactor = 4
	// DefaultMaxPatchBytes is PatchLimits.MaxBytes's default.
	DefaultMaxPatchBytes = PatchBytesFactor * DefaultMaxBytes
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
	// DefaultHeaderMaxBytes is HeaderOptions.MaxBytes's default: a
	// header that default nginx, Apache httpd and Tomcat accept with room
	// for the browser's own headers (README, "How big a session may get").
	DefaultHeaderMaxBytes = 4096
)
