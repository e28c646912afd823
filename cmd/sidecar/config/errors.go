package config

import "fmt"

// KeyError is a problem with one configuration key. Every error that
// [Load] and [Config.Validate] return is a KeyError or an errors.Join of
// them, except failures to read or parse the file itself. The message never
// contains a secret's value.
type KeyError struct {
	// Key is the dotted key, with list indices: "session.secrets[1]",
	// "upstreams[0].url", "store.redis.addrs". For an environment variable
	// whose name cannot be read as a key (SIDECAR_SESSION____X), it is the
	// variable's name.
	Key string
	// Msg says what is wrong, e.g. "must be at least 32 bytes (got 10)".
	Msg string
}

// Error returns "key: msg".
func (e *KeyError) Error() string { return e.Key + ": " + e.Msg }

// keyErr builds a *KeyError with a formatted message.
func keyErr(key, format string, args ...any) error {
	return &KeyError{Key: key, Msg: fmt.Sprintf(format, args...)}
}
