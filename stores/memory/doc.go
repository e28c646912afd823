// Package memory is a sessions.Store that keeps sessions in a map in the
// process: for tests and throwaway runs, not for production (sessions die
// with the process and are not shared between replicas).
//
// Every method is one step under a single mutex, so writes are atomic and
// never recreate a record that was deleted, regenerated away or expired.
// Records are deep-copied in and out. Expired records are invisible at
// once; a sweeper goroutine drops them from memory every
// Options.SweepInterval until Close.
package memory
