// Package certstore is a certmagic.Storage on Redis, so that a fleet of
// Sidecars shares its certificates, private keys and ACME account, and
// only one instance at a time orders a certificate from the CA. It works
// on a standalone Redis, through Sentinel (a failover client) and on
// Redis Cluster, taking any go-redis redis.UniversalClient; its locks are
// leases of Sidecar's lock package (lock.NewRedis or lock.NewRedlock).
// Redis 7.0 or later is required. certmagic's FileStorage remains
// Sidecar's default; this package is used when tls.acme.storage_type is
// redis.
//
// Values are certificates and private keys: the package never logs them
// and no error it returns contains one. Errors name keys, which hold host
// names and issuer names only.
//
// # Key layout
//
// With the default prefix "sidecar:certs:" (Options.Prefix), certmagic's
// key "certificates/acme-v02.api.letsencrypt.org-directory/example.com/example.com.crt"
// lives in:
//
//   - {sidecar:certs:}f:<key>, a hash per stored key: v, the value byte
//     for byte, and m, the time of its last Store in Unix milliseconds by
//     Redis's clock (one clock for the whole fleet);
//   - {sidecar:certs:}index, a sorted set of every stored key, all with
//     score 0, so that ZRANGE BYLEX finds the keys under a directory
//     "a/b" as the range ["a/b/", "a/b0"), '0' being the byte after '/'.
//
// Directories are not stored: a directory exists while a key under it
// does, as in certmagic's Storage contract. Nothing expires: certmagic
// deletes what it no longer needs (expired certificates, stale OCSP
// staples) in its storage clean-up.
//
// # Redis Cluster
//
// Every key starts with the hash tag {<prefix>}, so the Storage's keys
// all live in one hash slot, on one node. That is what lets each write be
// one atomic script over the key's hash and the index (a Store is never
// listed without its value, nor a deleted key listed after it), and lets
// List read one sorted set instead of scanning every master's keyspace,
// which on a Redis shared with sessions would cost time in the number of
// sessions, not of certificates. The price is that the certificates are
// not spread over the cluster's nodes; they are a few kilobytes per host
// name. No command or script touches keys of two slots, and every script
// declares the keys it touches.
//
// # Costs and bounds
//
// Round trips: Store, Load, Stat and Exists 1; List 1 per thousand keys
// under the path (plus 1 when there are none); Delete 2 per hundred keys
// under the key. A value is at most Options.MaxValueBytes (1 MiB), a key
// at most MaxKeyBytes (1024 bytes). Deleting a directory removes at most
// a hundred keys per script, so a large Delete never blocks Redis for
// long.
//
// # Locks
//
// certmagic locks around issuance, renewal, account registration and
// storage clean-up, by name. Lock(name) takes the Locker's key
// LockKeyPrefix+name ("certs:"+name; the Redis hash
// "sidecar:lock:certs:"+name with the lock package's default prefix) for
// a lease of Options.LockTTL (1m), waiting for as long as ctx lasts
// while another instance holds it. While held, the lease is extended
// every third of its TTL (lock.Lease.KeepAlive), so certmagic may hold a
// lock for the minutes an order takes; Unlock stops that and releases the
// lease, and a waiter is woken by the release. A holder that dies or
// loses Redis stops extending, and its lock is free at most LockTTL
// later. TryLock takes a lock only if it is free. Close releases every
// lock still held.
//
// Like every lease, a lock can be lost while held: when its holder is
// paused, or cut off from Redis, for longer than its validity. Another
// instance may then take the lock and order the same certificate; the
// cost is one more order, since certmagic checks storage for the
// certificate after taking the lock and writes complete values. Unlock
// reports such a loss (an error wrapping lock.ErrNotHeld), and certmagic
// logs it.
package certstore
