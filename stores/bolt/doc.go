// Package bolt is Sidecar's default sessions.Store: sessions kept in one
// local file with go.etcd.io/bbolt, for a single box without Redis.
//
// # File layout
//
// The file holds seven buckets:
//
//   - meta: "layout" → one byte, the layout version (1). Open refuses a
//     file with a layout it does not know (ErrCorrupt).
//   - sessions: session key → encoded record. A record starts with a format
//     byte (1), then varints and length-prefixed strings: Version; Created,
//     IdleExp and AbsExp as Unix seconds and nanoseconds; Principal; the
//     attributes as name/raw JSON pairs. A later format takes a new
//     leading byte; a record with an unknown one, or malformed, is reported
//     as an error wrapping ErrCorrupt, never a panic.
//   - principals: uvarint(len(principal)) ‖ principal ‖ session key → empty.
//     ByPrincipal is a prefix scan; the length prefix keeps one principal's
//     prefix from matching another's keys. The empty principal is not
//     indexed.
//   - tombstones: session key → 8-byte stamp (as in expiry) of when the
//     tombstone Regenerate left under that key lapses (Delta.Tombstone).
//     It is a bucket of its own rather than a record format, so a build
//     that predates tombstones (it ignores buckets it does not know) sees
//     a tombstoned key as absent, never as a corrupt record. Open creates
//     it in older files; the layout version stays 1. The sweeper scans it
//     whole (tombstones live minutes).
//   - details: session key → a format byte (1), then the record's
//     Handle, ClientIP and UserAgent as length-prefixed strings; no entry
//     when all three are empty. handles: handle → session key, for
//     ByHandle. Like tombstones, they are buckets of their own rather than
//     a new record format, so a build that predates them still reads
//     every record (going back to it loses only the details); Open
//     creates them in older files, whose records then read with the three
//     fields empty.
//   - expiry: 8-byte big-endian stamp ‖ session key → empty, where the
//     stamp is the record's expiry (the earlier of IdleExp and AbsExp) in
//     Unix nanoseconds, clamped to int64, sign bit flipped so byte order is
//     time order. The sweeper range-scans it from the start up to now.
//
// Every write (Create, Apply, Regenerate, Delete, a due Touch in Load, a
// sweep batch) changes the record, its details and every index inside one
// bbolt write transaction, so a check such as "the record is still live"
// and the write it guards are one atomic step. bbolt serialises writers;
// readers run concurrently with them and with each other.
//
// # Group commit
//
// The writes of sessions (all but sweeps and ByPrincipal's pruning) share
// their transactions: the first writer to find no commit under way
// commits at once, and the writes that arrive while it does are committed
// together by the next commit, one transaction and one fsync for up to
// 128 of them (more form the next group at once). Nobody waits for
// company, so a lone write costs what a plain db.Update costs, and under
// load a group is whoever arrived during one fsync: with 32 concurrent
// writers about 16 writes share each fsync on the development machine.
// (bbolt's own DB.Batch would hold every batch MaxBatchDelay, 10 ms by
// default, which at low load is added to each write.)
//
// A write returns only after the commit that carries it has returned,
// fsync included, so a write that returned survives a machine crash as
// before; a bbolt commit is atomic (the meta page switch), so a crash
// keeps or loses a group whole, and no writer of a lost group had been
// answered. Each write reads and checks everything it needs (its
// deadline included) before it changes anything; a write refused there
// (ErrNotFound, ErrConflict, a passed deadline...) changed nothing, and
// the rest of its group commits without it. One that fails after it began
// to change the transaction (a bbolt error) rolls its group back: the
// others are committed again without it, and it runs alone to get its
// own error. Write functions may therefore run more than once; they set
// their results afresh each time and change nothing outside the
// transaction.
//
// # Durability
//
// By default every commit is fsynced before the method returns, so a write
// that returned survives a machine crash (see Group commit). Options.NoSync trades that for
// speed: a process crash loses nothing, a machine crash may lose recent
// commits or damage the file. bbolt holds an exclusive lock on the file
// while it is open; Open waits for it at most Options.Timeout (default 1s)
// and then fails with ErrLocked. Options.ReadOnly opens a file for reading
// only, under a shared lock that waits the same way for a process holding
// the file for writing (a running Sidecar), and writes nothing: that is
// how `sidecar store migrate` reads the file it copies sessions from. The file never shrinks: pages freed by
// deletions are reused by later writes.
//
// # Expiry and the sweeper
//
// A record is live while the store clock (Options.Clock, default time.Now)
// is before both its IdleExp and AbsExp; an expired record behaves as
// absent everywhere, though it stays in the file until the sweeper runs.
// Open starts one sweeper goroutine (unless Options.SweepInterval is
// negative) that, every SweepInterval (default 1m), deletes the expired
// records and their index entries in transactions of at most 512 records,
// reporting a failed sweep to Options.OnSweepError and trying again at the
// next tick. The goroutine exits when Close is called: Close signals it,
// waits for its current transaction to commit and for it to return, and
// only then closes the file.
//
// # Inventory
//
// The store is a sessions.Inventory: ByHandle is one read of the handles
// bucket and of the record; Count is exact, a scan of the expiry index
// from the clock's now (a cursor step per live record). ByPrincipal
// deletes the expired records it finds, as the sweeper does, so that a
// principal's index never lists a session once it has been read after
// the session expired. Each (sessions.Lister) walks the sessions bucket in key
// order, in read-only transactions of 256 records.
//
// # Contexts, latency and errors
//
// Every method checks its context before each transaction it begins and
// returns ctx.Err() wrapped if it is done; writes check again once their
// group's transaction runs them, so a request that timed out while queued
// writes nothing, and once more after their reads, before their first
// change (sessions.CheckDeadline, after Options.BeforeCommit, the fault
// injection hook for tests): a write refused there changed nothing. A
// write that passed that check may finish (its group's commit and fsync)
// after the deadline; it then reports success, which is true. Neither the
// wait for a commit nor a transaction under way can be interrupted (bbolt
// has no cancellation), but each transaction is short.
//
// Returned records are fresh copies: Attrs is never nil, and times are in
// time.Local without a monotonic reading (compare them with Equal).
//
// The contract's outcomes are the sessions sentinels, returned unwrapped:
// sessions.ErrNotFound, ErrExists, ErrTooLarge and ErrConflict. Failures
// are wrapped as "bolt: <operation>: <cause>" and may wrap ErrCorrupt,
// ErrClosed (use after Close) or a bbolt error.
package bolt
