// Package storetest is the conformance suite for [sessions.Store]: a store
// that passes [Run] keeps the contract the session Manager relies on. Every
// store in this repository runs it, and so should a third-party adapter
// (memcached, SQL, ...) to prove it can stand in for them.
//
// # Using it
//
// Call [Run] from a test in the adapter's package, with a [NewStore] that builds
// a fresh, empty store reading time from the clock it is given:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, clock func() time.Time) sessions.Store {
//			s := mystore.New(mystore.Options{Clock: clock})
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// Call [RunDeadlines] too, with a [Stall] that can stall the store right
// before it commits (an in-process store blocks in an Options hook; a
// remote one has its server frozen, e.g. with SIGSTOP): it proves that a
// write that fails with its deadline changed nothing, even once the store
// resumes and gets to run it late.
//
// Run with the race detector (go test -race); the concurrency subtests are
// written to catch lost updates and resurrected sessions, which the race
// detector alone cannot see but which a non-atomic store shows under load.
// Run subtests by name with -run, e.g. -run 'TestConformance/Regenerate/'.
//
// # What the suite assumes
//
//   - Run calls newStore once per leaf subtest (twice in
//     Each/CreateCopiesWhatEachPasses, which copies one store's sessions
//     into another) and runs subtests one after another. Keys (64 hex
//     digits, like the Manager's SHA-256 keys), handles and principals are
//     random, and the suite enumerates a store only to count it
//     (sessions.Inventory.Count, which expects a fresh store to hold no
//     session) and to list it (sessions.Lister.Each, which expects to see
//     that store's sessions only), so stores built by successive calls may
//     share one backend (one Redis database) without flushing it between
//     subtests as long as each has a namespace of its own (a key prefix).
//   - A store that implements sessions.Inventory (and IndexReader, and
//     sessions.Lister) is checked for it too; one that does not skips
//     those subtests.
//   - Time comes only from the clock handed to newStore, a clocktest.Clock that starts
//     at the real time truncated to the millisecond and only moves forward,
//     by whole milliseconds, when the suite advances it. Every time the suite
//     writes is millisecond-exact and at least minutes after the real time,
//     so a store may set real backend deadlines (Redis PEXPIREAT) from
//     Record expiries. But the suite jumps the clock hours ahead while the
//     backend's own clock does not move, so a store must decide liveness by
//     comparing clock() with the stored IdleExp and AbsExp (Record.Live),
//     never by relying on the backend to have dropped the key.
//   - Times are compared with time.Time.Equal: a store may return them in
//     any location and without a monotonic reading, but must keep them to
//     the millisecond.
//   - Attribute values are compared byte for byte: a store copies them, it
//     never re-encodes them.
//   - A method given a context that is already cancelled must return an
//     error (any error) within seconds.
//
// # What the suite leaves to the store
//
// The contract does not settle these, so the suite accepts either answer:
// whether an IdleExp later than AbsExp (from Touch or Delta.IdleExp) is
// stored as given or clamped to AbsExp (the effective expiry, Expiry, must
// be AbsExp either way); which error wins when a write is both too large
// and conflicting; and what Regenerate does when newKey already holds a
// live record.
package storetest
