package certstore

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sidecarproxy/sidecar/lock"
)

// Defaults for the zero values of Options' fields.
const (
	// DefaultPrefix is Options.Prefix's default.
	DefaultPrefix = "sidecar:certs:"
	// DefaultLockTTL is Options.LockTTL's default.
	DefaultLockTTL = time.Minute
	// DefaultMaxValueBytes is Options.MaxValueBytes's default: 1 MiB, a
	// hundred times a certificate chain with its key.
	DefaultMaxValueBytes = 1 << 20
)

// MaxKeyBytes is the longest key the Storage accepts. certmagic's keys
// are a few path components built from host names (at most 253 bytes
// each) and issuer names.
const MaxKeyBytes = 1024

// LockKeyPrefix starts the lock key of every certmagic lock: a lock on
// name is taken on the Locker's key LockKeyPrefix+name, which with
// lock.NewRedis's default prefix is the Redis hash
// "sidecar:lock:certs:"+name. It keeps certmagic's locks apart from the
// session locks ("session:") and the apps' locks ("app:") on the same
// Locker.
const LockKeyPrefix = "certs:"

// Errors callers branch on, with errors.Is.
var (
	// ErrTooLarge is returned by Store for a value over
	// Options.MaxValueBytes; nothing is written.
	ErrTooLarge = errors.New("certstore: value too large")
	// ErrClosed is returned by Lock and TryLock after Close.
	ErrClosed = errors.New("certstore: storage closed")
)

// Options configure a Storage. The zero value is ready to use.
type Options struct {
	// Prefix names the Storage's Redis keys: they all start with
	// "{"+Prefix+"}", so that on Redis Cluster they share one hash slot
	// (see the package doc). Empty means DefaultPrefix
	// ("sidecar:certs:"). It may not contain '{' or '}'. Give each fleet
	// sharing a Redis its own prefix; the instances of one fleet must use
	// the same one to share certificates.
	Prefix string
	// LockTTL is the lease of a certmagic lock. While the lock is held,
	// the Storage extends the lease every third of LockTTL, so a lock
	// can be held for as long as issuance takes; when its holder dies
	// (or loses Redis), the lock is free at most LockTTL later. Zero
	// means DefaultLockTTL (1m); at least lock.MinTTL (1ms).
	LockTTL time.Duration
	// MaxValueBytes bounds the size of one stored value; Store refuses a
	// larger one with ErrTooLarge. Zero means DefaultMaxValueBytes
	// (1 MiB).
	MaxValueBytes int
}

// withDefaults returns o with every zero field given its default, or an
// error naming the field that cannot be used.
func (o Options) withDefaults() (Options, error) {
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if strings.ContainsAny(o.Prefix, "{}") {
		return o, fmt.Errorf("certstore: Options.Prefix %q may not contain '{' or '}': the Storage wraps it in a hash tag", o.Prefix)
	}
	if o.LockTTL == 0 {
		o.LockTTL = DefaultLockTTL
	}
	if o.LockTTL < lock.MinTTL {
		return o, fmt.Errorf("certstore: Options.LockTTL %v is below %v", o.LockTTL, lock.MinTTL)
	}
	if o.MaxValueBytes <= 0 {
		o.MaxValueBytes = DefaultMaxValueBytes
	}
	return o, nil
}
