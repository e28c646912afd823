// Package redisstore is the sessions.Store on Redis, for Sidecar
// deployments with several proxies sharing sessions. It works on a
// standalone server, through Sentinel (a failover client) and on Redis
// Cluster, taking any go-redis redis.UniversalClient; give that client
// ContextTimeoutEnabled, or a hung Redis holds requests for the client's
// ReadTimeout instead of the request context's deadline. The directory is
// stores/redis; the package is named redisstore so it can be imported next
// to go-redis without an alias. Redis 7.0 or later is required.
//
// # Key layout
//
// With the default prefix "sidecar:" (Options.Prefix):
//
//   - sidecar:s:<key> is a hash per session, <key> being the key the
//     Manager passes (derived from the cookie token; no token is ever
//     stored). Meta fields: version; created, idle_exp and abs_exp in Unix
//     milliseconds; principal; size, the running sessions.Record.Size, kept
//     up to date by every write so that MaxBytes is checked in time
//     proportional to the delta, not the session; handle, ip and ua
//     (sessions.Record's Handle, ClientIP and UserAgent; absent when
//     empty); reg, the score the session is registered with (below). One
//     field a:<name> per attribute holds its raw JSON, byte for byte. The
//     key's TTL ends at the earlier of idle_exp and abs_exp.
//   - sidecar:p:<hex SHA-256 of the principal> is a principal's index: a
//     sorted set of session keys, each scored with a time by which that
//     session is certainly dead (its abs_exp, or an upper bound of it).
//     Every index write drops the entries past their score and sets the
//     set's TTL to its highest score, so an index lives exactly as long as
//     it may list a live session. Entries of sessions that were deleted,
//     regenerated away or moved to another principal stay until their
//     score passes, except those of sessions deleted or regenerated away,
//     which Delete and Regenerate drop once they have committed (the key
//     is then gone for good); ByPrincipal checks every entry against its
//     session and lists only live sessions that still have the principal.
//     It cannot prune an entry whose session is missing or has another
//     principal: that may be a write under way, whose entry is written
//     before it commits.
//   - sidecar:h:<handle> holds the session key of the session whose
//     public handle it is (ByHandle), until the session's abs_exp; Delete
//     and Regenerate drop it with the session.
//   - sidecar:n:<0-f> are the 16 shards of the registry that Count reads:
//     sorted sets of session keys (the shard is FNV-1a of the key, mod
//     16), each scored with its session's expiry. A session is registered
//     before it is written, and again when a write or a touch has moved
//     its expiry more than a minute (or an eighth of the time left, if
//     less) past the score, about once a minute per active session; Delete
//     and Regenerate drop it. Count adds up the entries not yet past their
//     score in one round trip: it misses live sessions only within that
//     margin of an expiry they have since pushed back (and sessions an
//     older build created until a request touches them), so it is an
//     estimate (sessions.Count.Approximate), never a scan of the database.
//     Index writes drop the entries past their score, and a shard's TTL
//     is its highest score, as for principal indexes.
//     Because of that margin it is no listing: Each (sessions.Lister, which
//     `sidecar store migrate` reads) SCANs the session keys instead.
//   - sidecar:hb:<name>:<n>:{<tag>} are the heartbeat keys of a running
//     cache (see Caching): strings, one per master and set-up of the
//     cache, <name> random per Store, each rewritten every quarter of the
//     staleness bound and gone a minute after the last write.
//
// # Time
//
// Liveness is decided by comparing the store clock (Options.Clock, default
// time.Now) with idle_exp and abs_exp, inside the scripts: a record the
// clock says is expired behaves as absent (and is deleted when seen) even
// if Redis has not dropped it yet. TTLs are set relative to the store
// clock (PEXPIRE of the expiry minus now), so Redis drops the key at the
// same instant when the clocks agree and after the right duration when the
// Redis host's clock is off.
//
// # Atomicity and round trips
//
// Every step is one Lua script on one key (the sources are embedded .lua
// files, run with EVALSHA and falling back to EVAL), so a check and the
// write it guards are atomic, and a write never lands on a key that was
// deleted, regenerated away or expired. Round trips per call: Load, with
// or without Touch, 1 (with the cache: 0 on a hit, else 1 HGETALL, the
// touch written after it; see Caching); Create 2; Apply 1, or 2 when it sets a principal
// (3 or 4 in the rare cases Store.Apply describes); Delete 2; ByPrincipal
// 2; ByHandle 2; Count 1; Regenerate 6 (see below). A Load whose touch, or
// an Apply whose idle expiry, moves the session's expiry past its
// registration adds one (about once a minute per active session). A
// write with a deadline adds one TIME round trip per server every
// ClockRefresh. Round trips that go to several keys (the index entries
// before a write, the clean-up after Delete) are pipelines, one round
// trip to each node involved.
//
// An index update (principal, handle, registry) is never pipelined with
// the session write it serves: on a cluster the two live on different nodes, where one can fail
// while the other lands. The index update goes first, as a round trip of
// its own, and the session write is sent only once it succeeded, so a
// failed index update fails the call having written nothing, and a
// committed write is always findable by its principal. An index entry
// without its write (the write was then refused, or failed) is harmless:
// ByPrincipal checks every entry.
//
// Regenerate never uses RENAME or a script over both keys, which fail with
// CROSSSLOT on a cluster when the keys hash to different slots. Its
// protocol (seal, prepare, commit, finish; Store.Regenerate has the
// details) makes one script on the old key the commit point:
//
//  1. seal.lua (old key) reads the session and seals it until the commit
//     limit: writes to it wait (Apply retries every 2ms) until the seal
//     is committed or ends, so none can slip in between this read and
//     the commit and be lost.
//  2. prepare.lua (new key) stores the regenerated copy, marked pending,
//     with a TTL just past the point where the call can still finish it.
//     A pending copy is not a session: Load, Apply and ByPrincipal do not
//     see it, and nobody knows its key.
//  3. commit.lua (old key): if still sealed by this call, still at the
//     version the seal read (a format 1 build's apply.lua knows no seal)
//     and the seal has not ended by the server's clock, delete the old
//     session, leaving a tombstone (Delta.Tombstone) if asked to; a moved
//     version lifts the seal and Regenerate starts over. Before this,
//     nothing happened; after it, the copy is the session.
//  4. finish.lua (new key) clears pending and sets the real TTL, detached
//     from the caller's deadline, retried once.
//
// A stall or failure before step 3 commits leaves the old session intact
// (a seal that ends by itself at the deadline; the late commit lifts it)
// and a garbage copy that expires within seconds. After step 3 the copy
// is the session once step 4 runs, which it does even when the caller's
// deadline has passed. The one unrecoverable case is Redis unreachable
// from right after step 3 until the copy's TTL ends: the session is lost
// and the caller gets an error.
//
// # Caching
//
// With Options.Cache.Enabled, Start runs a cache of decoded sessions in
// memory, bounded by entries and bytes, that Load answers from without a
// round trip. Redis's server-assisted client-side caching keeps it
// fresh: on every master (the one server, the Sentinel's current master,
// every master of a cluster) the store holds a connection subscribed to
// __redis__:invalidate (RESP2, whatever the client speaks) and one that
// turned CLIENT TRACKING ON REDIRECT to it, BCAST for the prefixes
// Prefix+"s:" and its heartbeat keys', so that the master reports every
// write to a session, by any client, as it commits it.
//
//   - A write of this store's (Create, Apply, Regenerate, Delete, a
//     touch) drops the key from its cache before it returns, so its own
//     next read shows it.
//   - Another process's write is applied when its invalidation arrives.
//     A read that missed fills the cache only if no invalidation of its
//     key (and no flush) came between its start and its answer.
//   - Every CacheOptions.Staleness/4 (50ms/4 by default) the store writes
//     a heartbeat key on every master through its own client and waits
//     for the invalidation to come back. Redis sends the invalidations of
//     each event loop iteration in order, before its replies, so once the
//     heartbeat sent at s is back every write committed before it has
//     been applied here; the cache then serves until s + Staleness, and
//     is bypassed (reads go to Redis) as soon as no heartbeat vouches for
//     it. So no read is answered from the cache more than Staleness after
//     a write committed: another process's write, regenerate, destroy or
//     revoke is seen within that bound (on loopback, typically before the
//     writer has its reply).
//   - A lost channel (a dropped connection, a Redis restart, a heartbeat
//     missing for max(1s, 4 × Staleness)), a tracking connection whose
//     server is no longer a master (a failover) or a new cluster slot
//     map (a re-shard, a failover) flushes the cache; it stays bypassed
//     until new channels are set up and heartbeating. On a cluster a
//     read fills the cache only when it was answered by a master the
//     store tracks (it asks that master itself).
//
// Liveness is judged by the store clock on the cached expiry fields. A
// touch that is due is queued and written after the read (touch.lua),
// once per session however many reads ask for it meanwhile, and the read
// returns the touched record; a full queue has the read write it itself.
// The store's next reads, writes and inventory reads see pending touches
// as written. Close writes those still queued for at most 2s and drops
// the rest. Either way is safe: a touch written late slides the expiry
// from the instant of its read, as if written then, and never shortens
// it; a dropped one leaves the expiry where the last write or touch put
// it, so the session may end sooner than that read showed, never later
// than the protocol allows. A read with a context marked
// sessions.FreshRead (the Manager marks those of requests holding their
// session's lock) goes to Redis. CacheStats reports what the cache did.
//
// # Deadlines
//
// A write either takes effect before the caller's context deadline or
// never (sessions.Store). A stalled Redis (a SIGSTOP, a long fork, a
// network partition) still holds the commands sent to it and runs them
// when it resumes, after the caller has answered 503; so the deadline
// goes into every committing script as a commit limit on the server's own
// clock (redis.call('TIME')), and the script refuses (LATE, written as
// nothing) once the limit is past. The limit is the deadline translated
// to the server's clock with a measured offset, minus the offset's error
// and a margin:
//
//	limit = server(deadline) - (rtt/2 + drift·age + DeadlineMargin)
//
// where server(t) is the server's clock reading at our instant t, taken
// from a TIME round trip: the server's reading is matched with the
// midpoint of the round trip on our monotonic clock, so our wall clock
// stepping does not matter, and its error is half the round trip. A
// sample is taken per server: one for a standalone server or the master a
// Sentinel client talks to, one per master address on a cluster (each
// node has its own clock; the node is found with MasterForKey). It is
// refreshed when older than Options.ClockRefresh (10s), aged by 200ppm of
// drift meanwhile, and dropped when a command to that server fails
// without a reply, so a failover or a restarted server is measured afresh
// before the next write (a new master's clock may differ). Since the
// script commits only at or before the limit by the server's clock, it
// commits at or before the deadline by ours: when go-redis gives up at the
// deadline (ContextTimeoutEnabled), the write can no longer take effect.
// A write whose deadline is closer than the margin fails without sending.
// When a committing script fails without a reply before the deadline (a
// ReadTimeout shorter than the deadline, a reset connection), the store
// waits for the deadline before it returns the error, so that the error
// is never reported while the script may still commit. Errors wrap
// context.DeadlineExceeded.
//
// What stays ambiguous is a reply lost after the commit: the script
// committed at or before the limit, but its answer did not reach Sidecar
// in time, so the caller sees an error for a write that took effect.
// Writes without a deadline have no limit.
//
// # Formats
//
// Session hashes carry their format in the field fmt: 2 for what this
// build writes; records without it (written before it existed) are format
// 1, which reads the same. Format 2 only adds fields that format 1 code
// ignores (fmt, pending, seal, seal_until, and later handle, ip, ua and
// reg, which earlier format 2 builds ignore as well: testdata/v2) and
// tombstones, hashes with
// only tomb and fmt, which format 1 scripts find no idle_exp or abs_exp in
// and so treat as an absent session, never a corrupt one. So a fleet in
// the middle of an upgrade, old and new Sidecars on one Redis, works: each
// runs its own scripts (their SHAs differ) on the same records. A newer
// format than a build knows is refused (an error), not misread.
// testdata/v1 holds the format 1 scripts, and compat_test.go runs them
// against records this build writes, and the other way round.
//
// # Errors
//
// The contract's outcomes are the sessions sentinels: sessions.ErrNotFound,
// ErrExists, ErrConflict, ErrTooLarge and ErrReplaced (a live tombstone),
// returned unwrapped.
// Anything else means Redis could not be reached or failed, wrapped as
// "redis store: <doing what>: <cause>"; when the context was done,
// ctx.Err() is joined in. A call with a done context fails before sending
// anything.
package redisstore
