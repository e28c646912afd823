// Package lock is Sidecar's lock: leases on keys, each with a random
// token and a fencing number, held in Redis (NewRedis), in a majority of
// independent Redis masters (NewRedlock, the Redlock algorithm) or in
// process (NewLocal, for the embedded stores). All three return a *Locker
// and keep one contract:
//
//   - Acquire(ctx, key, ttl, wait) takes the lock for ttl, waiting up to
//     wait for another holder to let go, and returns a *Lease: Key, a
//     Token of 128 random bits, a Fence, and a validity (Until, TTL).
//   - Lease.Extend and Lease.Release act only while the token still holds
//     the lock, atomically (in Redis, one Lua script per server), and say
//     ErrNotHeld otherwise. Locker.Extend and Locker.Release do the same
//     given the key and token, for a lease handed to another process.
//   - Lease.KeepAlive extends the lease every third of its TTL while work
//     runs, and cancels the context it returns, with cause ErrLost, if the
//     lease is lost.
//
// A typical holder:
//
//	lease, err := locker.Acquire(ctx, key, 10*time.Second, 5*time.Second)
//	if err != nil {
//		return err // errors.Is(err, lock.ErrNotObtained)
//	}
//	defer lease.Release(context.WithoutCancel(ctx))
//	work, stop := lease.KeepAlive(ctx)
//	defer stop()
//	return resource.Write(work, lease.Fence(), data) // refuses stale fences
//
// # Guarantees
//
// Mutual exclusion: while a lease is valid (before its Until, and not
// released), no other lease on its key is granted — provided clocks behave
// as assumed below. A lease's validity is shorter than the lock's life in
// Redis by the time its grant took and a clock-drift allowance
// (Options.DriftFactor*ttl+2ms), so the lease ends, on the holder's clock,
// before any server can let the lock go.
//
// Fencing: every lease on a key granted after another lease on that key
// has ended (released, or past its validity) has a higher fencing number.
// So fences increase strictly in the order leases are granted. The
// conditions follow.
//
// Liveness: a holder that dies blocks others only until its lease
// expires; every Acquire returns within wait+ttl, or sooner when ctx
// ends.
//
// # Limits: why fencing numbers matter
//
// A lease is a promise about time, and time in a distributed system is
// unreliable (Martin Kleppmann, "How to do distributed locking", 2016).
// The holder may be paused (a GC pause, swapping, a stopped VM) or its
// messages delayed past its validity without noticing; another client then
// gets the lock, and the first resumes and writes as if it still held it.
// No lock service can prevent this on its own, since the late write
// happens after the lock service last heard from the holder. The remedy is
// fencing: every write to the protected resource carries the lease's
// Fence, and the resource refuses a write whose fence is lower than one it
// has already accepted. The late holder's fence is lower than its
// successor's, so its write is refused. Use the lock on its own only where
// an occasional overlap costs efficiency, not correctness.
//
// Redlock adds timing assumptions of its own, which Kleppmann's critique
// targets: the drift between the clocks of this host and of the masters
// stays within the allowance over one TTL, and no master's clock jumps.
// When they fail (an NTP step on a master, say), a master can expire a
// lock early and two leases can overlap. Their fences are then not
// ordered by grant, but a resource that checks fences still accepts
// writes only in increasing fence order: at worst one holder is refused. A master that
// restarts without persistence forgets its locks: keep a crashed master
// down for at least the longest TTL before it rejoins (or run it with
// appendonly yes and appendfsync always), or a lock held on it may be
// granted again.
//
// A single Redis (NewRedis) is simpler and as safe as that Redis: when a
// Sentinel or Cluster failover promotes a replica that missed the last
// writes, a held lock can be lost and granted again. Fencing numbers still
// increase across the failover (see below).
//
// Run the lock's Redis with maxmemory-policy noeviction: the lock keys
// have TTLs, so the volatile-* policies may evict a held lock.
//
// # Fencing numbers
//
// Each lock hash keeps the last fence issued on its key. The acquire
// script, in the same atomic step that takes the lock, issues
//
//	fence = max(last + 1, the server's TIME in microseconds)
//
// and stores it. On one server, grants of a key run one after another, so
// each fence is above the last. The counter survives releases and
// expiries for Options.FenceRetention (1h); it may still be lost: to a
// restart without persistence, a failover to a lagging replica, or a key
// idle longer than the retention. The time floor covers that loss: a
// fence never exceeds the microsecond at which it was issued (by
// induction, as long as a key is granted less than once per microsecond,
// which a round trip per grant ensures), so a counter restarted from the
// clock starts above every fence issued before — provided the clock that
// issues it is not behind the clocks that issued them (no backward step;
// across a failover or between Redlock masters, skew smaller than the
// time since the lost fence was issued).
//
// Redlock takes the lock on every master at once, each master proposing a
// fence as above, and the lease's fence F is the highest proposal of the
// masters that granted it. The maximum alone is not enough, since the
// masters' counters differ: a later quorum that misses the master holding
// the maximum could propose less. So before the lease is granted, a second
// round trip stores F (fence.lua: counter = max(counter, F), and F as the
// lease's recorded fence, only while the token holds the lock there) on a
// quorum of the masters that took the lock. Then let lease A be granted
// with fence F_A, and lease B granted after A ended:
//
//  1. F_A is stored on a quorum R_A, and B took the lock on a quorum S_B.
//     Two majorities of the same N masters share a master m.
//  2. On m, B's acquire script found the lock free after A's hold on m
//     had ended: had B taken m before A did, A could only take m once B's
//     hold on m had ended, which is after B's grant (B's validity ends
//     before its keys expire, and B releases only after its grant); A
//     would then be granted after B, not before.
//  3. A stored F_A on m while holding m, so before B's script ran, and
//     the counter on m only grows; B's proposal on m is at least F_A+1,
//     and F_B, the highest proposal, is above F_A.
//
// Step 3 assumes m kept its counter; if m lost it, m's proposal is its
// clock, above F_A under the clock condition above. Step 2 assumes the
// drift allowance holds; if it does not, A and B may overlap, and then
// nothing orders their fences (see Limits).
//
// The in-process Locker issues fences from one counter per Locker, under
// its mutex, with the same floor (Options.Clock in microseconds), so they
// also increase across restarts of the process.
//
// # Waiting
//
// An Acquire that finds the lock held waits, up to its wait bound and
// while ctx lasts, for one of: a release notification, the holder's
// expiry (the failed attempt returns the time left), or a poll timer
// jittered between Options.RetryMin and RetryMax with exponential growth;
// then it tries again, and tries once more at the bound. One attempt is
// bounded by the TTL, so Acquire returns within wait+ttl.
//
// Notifications: a release by a token that had waiters (a waiting attempt
// marks the lock) publishes the key on the channel Prefix+"released"; the
// cleanup of a failed attempt does not, and leaves the mark in place. Each
// Locker holds one SUBSCRIBE connection per Redis server, opened at the
// first wait or by Listen, shared by all its waiters and closed by Close;
// on a Cluster, PUBLISH reaches every node, so one subscription suffices.
// Pub/sub is at most once, so notifications only shorten waits: while the
// subscription is down, or with Options.NoNotify, waiters poll. A waiter
// registers, then tries again at once, and the notifier wakes all waiters
// whenever its subscription is (re)confirmed, so a release is never missed
// for longer than a poll interval. The in-process Locker wakes waiters
// from Release directly.
//
// # Quorums and timeouts
//
// A Redis Locker sends each step to all its servers at once (one, for
// NewRedis) and decides as soon as the replies settle the outcome: a
// quorum said yes, or enough said no, or failed, that none can. Each
// call to a server is bounded by Options.ServerTimeout (500ms), so a
// master that is down or hung costs nothing while the others form a
// quorum; calls the decision did not wait for finish in the background.
// An attempt that fails releases whatever it took, at once where the
// server said so and in the background where the reply failed or was not
// awaited (the script may have run); each attempt has its own token, so
// that cleanup never touches a later attempt's lock. Likewise, a lease
// granted before every server had answered is released again, once they
// have, where they may have taken the lock after its Release passed
// there. Round trips, with every server up: a grant, extension or release
// is one (Redlock: a grant is two).
//
// # Redis layout
//
// A lock on key is the hash Prefix+key (default "sidecar:lock:"+key) with
// fields tok (the holder's token), exp (the lease's expiry, Unix ms by the
// server's TIME), fence (the last fence issued there), lf (the lease's
// fence, which Locker.Extend reports) and wait (set while someone waits).
// The hash's TTL is max(ttl, FenceRetention); the lock is held while tok
// is set and exp is in the future, so an expired lock is free although its
// hash, and its counter, remain. Every script touches that one key, so the
// Locker works on Redis Cluster. Redis 7.0 or later is required.
//
// # Counters
//
// Locker.Stats returns counts of grants, contention, waits and their
// total time, notifications, give-ups (ErrNotObtained), extensions,
// releases, lost leases and Redis failures, for a metrics endpoint.
package lock
