// Package lockservice is Sidecar's lock service: an http.Handler through
// which the apps behind Sidecar take named locks that hold across every
// server of the pool, where <cflock scope="application"> (or a PHP flock)
// protects only the one server it runs on. It is a thin HTTP face on a
// *lock.Locker: each lock is a lease with a random token, a fencing number
// and a TTL (see package lock for the guarantees and their limits).
//
// Endpoints:
//
//	POST /locks/{name}/acquire  ttl, wait   200 Lease | 409 not obtained
//	POST /locks/{name}/extend   token, ttl  200 Lease | 409 not held
//	POST /locks/{name}/release  token       200 {"name","released":true} | 409 not held
//	GET  /locks/stats                       200 Stats (the Locker's counters)
//
// A Lease is {"name","token","fence","fence_string","ttl_ms","expires_at"}:
// the token to extend and release with (a secret: whoever has it can
// release the lock), the fencing number (also as a decimal string, for
// JSON parsers that turn large integers into floats), the validity left in
// whole milliseconds and its end (UTC, RFC 3339 with milliseconds). The
// validity is a little shorter than the ttl asked for (package lock
// deducts the grant's round trip and a clock-drift allowance).
//
// # Names
//
// A lock name is 1 to MaxNameLen (200) characters of A-Z a-z 0-9 . _ : / -,
// and split at "/" it has no empty, "." or ".." segment (so that no proxy
// in front rewrites the path). A name may contain "/", sent as is or as
// %2F. The service locks the key KeyPrefix+name ("app:"+name), so an app
// can never take or release a lock Sidecar itself uses, such as a
// session's.
//
// # Parameters
//
// Parameters come from the query string, which is simplest from CFML's
// cfhttp, or from the body: a form (application/x-www-form-urlencoded) or
// a JSON object ({"ttl":"30s","wait":5000}). Each may be given once, in
// one place: a parameter repeated, or given in both, is refused, as is one
// the endpoint does not take. A body of another type is refused with 415,
// one over MaxBodyBytes with 413.
//
//   - ttl (acquire, extend; required): the lease's length, at least 1ms
//     and at most Options.MaxTTL (default 5m).
//   - wait (acquire; default 0): how long to wait for another holder to
//     let go, at most Options.MaxWait (default 30s); 0 makes one attempt.
//   - token (extend, release; required): the token the acquire returned.
//
// A duration is either a Go duration, with a unit ("1500ms", "30s",
// "1m30s"), or a whole number of milliseconds with no unit ("1500"); in
// JSON, a string of either kind or an integer number of milliseconds.
//
// # Errors
//
// Errors are JSON, {"error":"..."}, naming the lock ("name", unless the
// name is what is wrong) and, for a bad parameter, the parameter
// ("param"). Statuses are decided in one
// place:
//
//   - 400 a bad name, ttl, wait or token, or one above its maximum;
//   - 401 a missing or wrong bearer token (with WWW-Authenticate: Bearer);
//   - 429 with Retry-After: too many failed tokens from the client's
//     address (see Authentication);
//   - 404 an unknown path, 405 (with Allow) a wrong method;
//   - 409 {"error":"not obtained"}: another holder kept the lock past
//     wait; {"error":"not held"}: the token holds no live lease on the
//     lock (it expired, was released, or is wrong);
//   - 413 a body over MaxBodyBytes, 415 a body neither form nor JSON;
//   - 499 the client went away while it waited (nobody reads it);
//   - 503 with Retry-After: the lock's Redis did not answer (a quorum of
//     masters, for Redlock). An extend or release that got 503 may still
//     have taken effect; the lease still ends at its expiry at the latest.
//
// # Authentication
//
// Every request needs "Authorization: Bearer <token>" with Options.Token,
// which the apps hold, distinct from the admin API's. As in the admin API
// (both check it with package httpauth) it is compared in constant time
// over SHA-256 digests; a missing or wrong one gets 401 and a log line
// with the client's address only. Neither the bearer token nor a lease's
// token is ever logged. Failures are bounded per address (httpauth.Guard,
// Options.AuthLimits): by default, after 10 within a minute the address
// gets 429 with Retry-After for a minute, the right token included, and
// the log shows the first 5 refusals of each minute and a count of the
// rest.
//
// # Waiting and timeouts
//
// An acquire waits while its request lasts: a client that disconnects
// stops the wait (and a lease granted as it left is released). An extend
// or release runs to completion even if its client goes away, bounded by
// CallTimeout. Every response carries "Cache-Control: no-store". The
// handler does not listen; cmd/sidecar serves it on lock_service.listen.
// A server write timeout there, if any, must leave room for the longest
// acquire: MaxWait plus one last attempt (bounded by the lock's TTL and
// its per-server timeout, lock.Options.ServerTimeout).
package lockservice
