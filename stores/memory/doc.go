// Package memory is a sessions.Store that keeps sessions in a map in the
// process: for tests and throwaway runs, not for production (sessions die
// with the process and are not shared between replicas).
//
// Every method is one step under a single mutex, so writes are atomic and
// never recreate a record that was deleted, regenerated away or expired.
// A write checks its context's deadline under that mutex as its last step
// before changing anything (Options.BeforeCommit runs just before that
// check, for fault injection), so a write that fails with the deadline
// changed nothing. Regenerate with a positive Delta.Tombstone leaves the
// old key as a tombstone (sessions.ErrReplaced) until it lapses.
// Records are deep-copied in and out. Expired records are invisible at
// once; a sweeper goroutine drops them from memory every
// Options.SweepInterval until Close.
package memory
