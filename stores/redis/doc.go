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
//     proportional to the delta, not the session. One field a:<name> per
//     attribute holds its raw JSON, byte for byte. The key's TTL ends at
//     the earlier of idle_exp and abs_exp.
//   - sidecar:p:<hex SHA-256 of the principal> is a principal's index: a
//     sorted set of session keys, each scored with a time by which that
//     session is certainly dead (its abs_exp, or an upper bound of it).
//     Every index write drops the entries past their score and sets the
//     set's TTL to its highest score, so an index lives exactly as long as
//     it may list a live session. Entries of sessions that were deleted,
//     regenerated away or moved to another principal stay until their
//     score passes; ByPrincipal checks every entry against its session and
//     lists only live sessions that still have the principal.
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
// or without Touch, 1; Create 1, or 2 with a principal; Apply 1, or 2 when
// it sets a principal (3 or 4 in the rare cases Store.Apply describes);
// Regenerate 2, or 3 when the session has a principal; Delete 1;
// ByPrincipal 2.
//
// A principal index update is never pipelined with the session write it
// serves: on a cluster the two live on different nodes, where one can fail
// while the other lands. The index update goes first, as a round trip of
// its own, and the session write is sent only once it succeeded, so a
// failed index update fails the call having written nothing, and a
// committed write is always findable by its principal. An index entry
// without its write (the write was then refused, or failed) is harmless:
// ByPrincipal checks every entry.
//
// Regenerate never uses RENAME or a script over both keys, which fail with
// CROSSSLOT on a cluster when the keys hash to different slots. It takes
// the old session (checking the delta, then deleting the key, atomically)
// and creates the new one. The second step runs detached from the caller's
// context, under Options.RegenerateTimeout, and is retried once, so a
// deadline passing between the steps does not lose the session. If the
// process dies, or Redis stays unreachable, between those two steps, the
// session is lost: the user is logged out, but a session is never
// reachable under both keys, and the old key is never restored.
//
// # Errors
//
// The contract's outcomes are the sessions sentinels: sessions.ErrNotFound,
// ErrExists, ErrConflict and ErrTooLarge, returned unwrapped (except
// Regenerate's ErrExists, which is wrapped to say the session was lost).
// Anything else means Redis could not be reached or failed, wrapped as
// "redis store: <doing what>: <cause>"; when the context was done,
// ctx.Err() is joined in. A call with a done context fails before sending
// anything.
package redisstore
