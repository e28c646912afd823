package config

import (
	"time"

	"github.com/sidecarproxy/sidecar/httpauth"
)

// The keys about what Sidecar logs beyond log.level and log.format:
// log.access, the access log's format, and auth_failures, which bounds
// the failed authentications on the admin API and the lock service (the
// 429 lockout and the rate limit of their log lines). Every key takes a
// restart, log.level being the one log key a reload applies.

// AuthFailuresConfig bounds failed bearer-token authentications on the
// admin API and the lock service, each counting on its own
// (httpauth.Guard).
type AuthFailuresConfig struct {
	// Max is how many failed tokens one client address (IPv4, or an IPv6
	// /64) may send within Window; the last of them locks it out for
	// Lockout, during which it gets 429 with Retry-After, the right token
	// included. 0 never locks out. Default 10
	// ([httpauth.DefaultMaxFailures]).
	Max int `koanf:"max"`
	// Window is the span failures are counted over, from an address's
	// first failure. Greater than 0. Default 1m.
	Window time.Duration `koanf:"window"`
	// Lockout is how long a locked-out address gets 429: whole seconds, at
	// least 1s. Default 1m.
	Lockout time.Duration `koanf:"lockout"`
	// LogBurst is how many refusals, and how many lockouts, each API logs
	// one by one per Window; the rest are counted in one summary line per
	// window. 0 logs only the summaries. Default 5.
	LogBurst int `koanf:"log_burst"`
}

// defaultAuthFailures is auth_failures' defaults, for [Default].
func defaultAuthFailures() AuthFailuresConfig {
	return AuthFailuresConfig{
		Max:      httpauth.DefaultMaxFailures,
		Window:   httpauth.DefaultWindow,
		Lockout:  httpauth.DefaultLockout,
		LogBurst: httpauth.DefaultLogBurst,
	}
}

// Limits returns a's httpauth.Limits, where "never lock out" and "log
// only the summaries" are negative rather than zero.
func (a AuthFailuresConfig) Limits() httpauth.Limits {
	l := httpauth.Limits{MaxFailures: a.Max, Window: a.Window, Lockout: a.Lockout, LogBurst: a.LogBurst}
	if l.MaxFailures == 0 {
		l.MaxFailures = -1
	}
	if l.LogBurst == 0 {
		l.LogBurst = -1
	}
	return l
}

// validateLogs checks log.access and auth_failures.*. The failure limits
// are checked even with both APIs off: they are few and a typo there
// should not wait until an API is turned on.
func (c Config) validateLogs(p *problems) {
	p.check("log.access", c.Log.Access.Validate())
	a := c.AuthFailures
	if a.Max < 0 {
		p.add("auth_failures.max", "must be 0 (never lock out) or more (got %d)", a.Max)
	}
	p.positive("auth_failures.window", a.Window)
	if a.Lockout < time.Second || a.Lockout%time.Second != 0 {
		p.add("auth_failures.lockout", "must be whole seconds, at least 1s: it is sent as Retry-After (got %v)", a.Lockout)
	}
	if a.LogBurst < 0 {
		p.add("auth_failures.log_burst", "must be 0 (summaries only) or more (got %d)", a.LogBurst)
	}
}
