package bolt

import (
	"context"
	"time"
)

// Defaults for the zero values of Options' fields.
const (
	// DefaultSweepInterval is Options.SweepInterval's default.
	DefaultSweepInterval = time.Minute
	// DefaultTimeout is Options.Timeout's default.
	DefaultTimeout = time.Second
)

// Options configures Open. The zero value is ready to use.
type Options struct {
	// Clock tells the store the time: a record is live while Clock() is
	// before both its IdleExp and AbsExp, and the sweeper drops records
	// whose expiry Clock() has reached. nil means time.Now.
	Clock func() time.Time
	// SweepInterval is how often the background sweeper deletes expired
	// records. 0 means DefaultSweepInterval (1m); a negative value starts no
	// sweeper, and expired records then stay in the file (still invisible)
	// until overwritten or deleted.
	SweepInterval time.Duration
	// OnSweepError, if set, is called from the sweeper goroutine with each
	// sweep that fails (the next tick tries again). nil drops such errors.
	OnSweepError func(error)
	// NoSync skips the fsync after each commit: writes become much faster,
	// but the last commits can be lost, or the file damaged, if the machine
	// (not just the process) crashes. false (the default) syncs every
	// commit.
	NoSync bool
	// Timeout bounds the wait for the database file's lock in Open, so a
	// second process on the same file gets ErrLocked rather than hanging.
	// 0 (or negative) means DefaultTimeout (1s).
	Timeout time.Duration
	// ReadOnly opens an existing file for reading only, as the source of a
	// migration (Lister.Each): Open takes a shared lock, which any number
	// of read-only opens hold together but which waits, at most Timeout,
	// for a process that has the file open for writing (a running
	// Sidecar) and then fails with ErrLocked. Open writes nothing (a file
	// an older build wrote is read as it is, the buckets it lacks as
	// empty), starts no sweeper whatever SweepInterval says, and fails if
	// the file does not exist; every write method fails with an error
	// wrapping bbolt's ErrDatabaseReadOnly. false (the default) opens the
	// file for reading and writing, creating it if needed.
	ReadOnly bool
	// BeforeCommit, when set, is called by every write (Create, Apply,
	// Regenerate, Delete) inside the write transaction of its group commit,
	// on the goroutine leading that commit, after the write's reads and
	// right before its last deadline check, which precedes its first
	// change (a write rerun after its group failed calls it again). It
	// exists for fault injection in tests (a hook that blocks past the
	// deadline is a stalled store, and holds up the writes of its group);
	// leave it nil otherwise.
	BeforeCommit func(ctx context.Context)
}

// withDefaults returns o with every zero field given its default.
func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	return o
}
