package config

import (
	"fmt"
	"net/http"
	"strings"
)

// StoreType selects the session store backend (store.type).
type StoreType string

// The store backends.
const (
	StoreBolt   StoreType = "bolt"   // embedded bbolt file; the default
	StoreMemory StoreType = "memory" // in-process map; sessions are lost on restart
	StoreRedis  StoreType = "redis"  // Redis standalone, Sentinel or Cluster
)

// Validate reports whether t is one of the store backends.
func (t StoreType) Validate() error {
	return oneOf(t, StoreBolt, StoreMemory, StoreRedis)
}

// SameSite is the cookie's SameSite attribute (session.cookie_same_site).
type SameSite string

// The SameSite modes.
const (
	SameSiteLax    SameSite = "lax" // the default
	SameSiteStrict SameSite = "strict"
	SameSiteNone   SameSite = "none" // requires cookie_secure: always
)

// Validate reports whether s is one of the SameSite modes.
func (s SameSite) Validate() error {
	return oneOf(s, SameSiteLax, SameSiteStrict, SameSiteNone)
}

// HTTP returns the net/http equivalent of s (http.SameSiteDefaultMode for
// an invalid value).
func (s SameSite) HTTP() http.SameSite {
	switch s {
	case SameSiteLax:
		return http.SameSiteLaxMode
	case SameSiteStrict:
		return http.SameSiteStrictMode
	case SameSiteNone:
		return http.SameSiteNoneMode
	}
	return http.SameSiteDefaultMode
}

// CookieSecure decides when the cookie gets the Secure attribute
// (session.cookie_secure).
type CookieSecure string

// The Secure modes.
const (
	// CookieSecureAuto sets Secure when the client used https: a TLS
	// connection, or X-Forwarded-Proto: https from one of
	// server.trusted_proxies. The default.
	CookieSecureAuto CookieSecure = "auto"
	// CookieSecureAlways always sets Secure, for TLS terminated in front of
	// the proxy.
	CookieSecureAlways CookieSecure = "always"
)

// Validate reports whether s is one of the Secure modes.
func (s CookieSecure) Validate() error {
	return oneOf(s, CookieSecureAuto, CookieSecureAlways)
}

// Locking selects how concurrent requests of one session are handled
// (session.locking).
type Locking string

// The locking modes.
const (
	// LockingOff lets requests run concurrently; writes of different
	// attributes merge, the last write of one attribute wins. The default.
	LockingOff Locking = "off"
	// LockingSession serialises the requests of one session.
	LockingSession Locking = "session"
)

// Validate reports whether l is one of the locking modes.
func (l Locking) Validate() error {
	return oneOf(l, LockingOff, LockingSession)
}

// LogLevel is the minimum log level (log.level).
type LogLevel string

// The log levels.
const (
	LogDebug LogLevel = "debug"
	LogInfo  LogLevel = "info" // the default
	LogWarn  LogLevel = "warn"
	LogError LogLevel = "error"
)

// Validate reports whether l is one of the log levels.
func (l LogLevel) Validate() error {
	return oneOf(l, LogDebug, LogInfo, LogWarn, LogError)
}

// LogFormat is the log output format (log.format).
type LogFormat string

// The log formats.
const (
	LogJSON    LogFormat = "json" // one JSON object per line; the default
	LogConsole LogFormat = "console"
)

// Validate reports whether f is one of the log formats.
func (f LogFormat) Validate() error {
	return oneOf(f, LogJSON, LogConsole)
}

// oneOf returns nil when v is one of allowed, else an error listing them.
func oneOf[T ~string](v T, allowed ...T) error {
	names := make([]string, len(allowed))
	for i, a := range allowed {
		if v == a {
			return nil
		}
		names[i] = string(a)
	}
	return fmt.Errorf("%q is not one of %s", string(v), strings.Join(names, ", "))
}
