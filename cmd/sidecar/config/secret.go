package config

import (
	"fmt"
	"log/slog"
)

// redacted is what a non-empty [Secret] prints as.
const redacted = "[redacted]"

// Secret is a configuration value that must not be printed: a cookie or
// header secret, a token, a password. Every fmt verb, JSON, YAML, text and
// slog output shows "[redacted]" for a non-empty Secret and "" for an
// empty one. Use [Secret.Bytes] or string(s) to obtain the value.
type Secret string

// Bytes returns the secret's value.
func (s Secret) Bytes() []byte { return []byte(s) }

// String returns "[redacted]", or "" when s is empty.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// Format implements fmt.Formatter so that no verb (%s, %q, %x, %d, %#v ...)
// prints the value.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", s.String())
	case 'v':
		if f.Flag('#') {
			fmt.Fprintf(f, "config.Secret(%q)", s.String())
			return
		}
		fmt.Fprint(f, s.String())
	default:
		fmt.Fprint(f, s.String())
	}
}

// MarshalText implements encoding.TextMarshaler (used by JSON, YAML and
// most loggers) with the redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue implements slog.LogValuer with the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
