package lockservice

import (
	"context"
	"net/http"
	"strconv"

	"github.com/sidecarproxy/sidecar/lock"
)

// Lease is the body of a granted acquire or extend.
type Lease struct {
	// Name is the lock's name, as the app gave it.
	Name string `json:"name"`
	// Token extends and releases the lease. It is a secret.
	Token string `json:"token"`
	// Fence is the lease's fencing number: pass it with every write to
	// what the lock protects, which should refuse a fence lower than one
	// it has seen. An extension keeps the fence.
	Fence int64 `json:"fence"`
	// FenceString is Fence in decimal, for JSON parsers that read large
	// integers as floats (CFML's, JavaScript's).
	FenceString string `json:"fence_string"`
	// TTLMillis is the validity left, in whole milliseconds: a little
	// less than the ttl asked for.
	TTLMillis int64 `json:"ttl_ms"`
	// ExpiresAt is the end of the validity, UTC, RFC 3339 with
	// milliseconds.
	ExpiresAt string `json:"expires_at"`
}

// Released is the body of a release.
type Released struct {
	// Name is the lock's name.
	Name string `json:"name"`
	// Released is always true: a release that fails is an error.
	Released bool `json:"released"`
}

// Stats is the body of GET /locks/stats: the Locker's counters (see
// lock.Stats), which count every lock on the Locker, Sidecar's own
// session locks included when they share it.
type Stats struct {
	// Acquired counts leases granted.
	Acquired int64 `json:"acquired"`
	// Contended counts acquires whose first attempt found the lock held.
	Contended int64 `json:"contended"`
	// Waited counts acquires that waited.
	Waited int64 `json:"waited"`
	// Waiting is the number of acquires waiting now.
	Waiting int64 `json:"waiting"`
	// WaitTimeMS is the total time acquires spent waiting, in ms.
	WaitTimeMS int64 `json:"wait_time_ms"`
	// Notified counts waiters woken by a release notification.
	Notified int64 `json:"notified"`
	// NotObtained counts acquires that gave up.
	NotObtained int64 `json:"not_obtained"`
	// Extended counts extensions.
	Extended int64 `json:"extended"`
	// Released counts releases of live leases.
	Released int64 `json:"released"`
	// Lost counts leases found lost (an extend or release not held).
	Lost int64 `json:"lost"`
	// Errors counts calls that failed for want of Redis.
	Errors int64 `json:"errors"`
}

// expiresFormat is ExpiresAt's layout: RFC 3339, milliseconds, UTC.
const expiresFormat = "2006-01-02T15:04:05.000Z07:00"

// acquire answers POST /locks/{name}/acquire: it takes the lock for ttl,
// waiting up to wait while the client stays.
func (h *Handler) acquire(w http.ResponseWriter, r *http.Request, name string) {
	params, err := readParams(r, "ttl", "wait")
	if err != nil {
		h.writeErr(w, r, name, err)
		return
	}
	ttl, err := duration(params, "ttl", true, lock.MinTTL, h.maxTTL)
	if err != nil {
		h.writeErr(w, r, name, err)
		return
	}
	wait, err := duration(params, "wait", false, 0, h.maxWait)
	if err != nil {
		h.writeErr(w, r, name, err)
		return
	}
	ctx := r.Context()
	lease, err := h.locker.Acquire(ctx, KeyPrefix+name, ttl, wait)
	if err != nil {
		h.writeErr(w, r, name, err)
		return
	}
	if ctx.Err() != nil {
		// Granted as the client left: nobody will release it.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), CallTimeout)
		defer cancel()
		_ = lease.Release(rctx)
		h.writeErr(w, r, name, ctx.Err())
		return
	}
	h.log.Debug().Str("lock", name).Int64("fence", lease.Fence()).Dur("ttl", ttl).
		Str("remote_addr", r.RemoteAddr).Msg("lock service: acquired")
	writeJSON(w, http.StatusOK, leaseBody(name, lease))
}

// extend answers POST /locks/{name}/extend: it moves the lease's expiry
// to ttl from now.
func (h *Handler) extend(w http.ResponseWriter, r *http.Request, name string) {
	params, err := readParams(r, "token", "ttl")
	if err != nil {
		h.writeErr(w, r, name, err)
		return
	}
	token, err := leaseToken(params)
	if err != nil {
		h.writeErr(w, r, name, err)
		return
	}
	ttl, err := duration(params, "ttl", true, lock.MinTTL, h.maxTTL)
	if err != nil {
		h.writeErr(w, r, name, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), CallTimeout)
	defer cancel()
	lease, err := h.locker.Extend(ctx, KeyPrefix+name, token, ttl)
	if err != nil {
		h.writeErr(w, r, name, err)
		return
	}
	h.log.Debug().Str("lock", name).Int64("fence", lease.Fence()).Dur("ttl", ttl).
		Str("remote_addr", r.RemoteAddr).Msg("lock service: extended")
	writeJSON(w, http.StatusOK, leaseBody(name, lease))
}

// release answers POST /locks/{name}/release: it ends the lease.
func (h *Handler) release(w http.ResponseWriter, r *http.Request, name string) {
	params, err := readParams(r, "token")
	if err != nil {
		h.writeErr(w, r, name, err)
		return
	}
	token, err := leaseToken(params)
	if err != nil {
		h.writeErr(w, r, name, err)
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), CallTimeout)
	defer cancel()
	if err := h.locker.Release(ctx, KeyPrefix+name, token); err != nil {
		h.writeErr(w, r, name, err)
		return
	}
	h.log.Debug().Str("lock", name).Str("remote_addr", r.RemoteAddr).Msg("lock service: released")
	writeJSON(w, http.StatusOK, Released{Name: name, Released: true})
}

// stats answers GET /locks/stats.
func (h *Handler) stats(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, StatsOf(h.locker))
}

// StatsOf is l's counters in the JSON shape of GET /locks/stats; the
// admin API serves the same view (admin.Options.Locker).
func StatsOf(l *lock.Locker) Stats {
	s := l.Stats()
	return Stats{
		Acquired:    s.Acquired,
		Contended:   s.Contended,
		Waited:      s.Waited,
		Waiting:     s.Waiting,
		WaitTimeMS:  s.WaitTime.Milliseconds(),
		Notified:    s.Notified,
		NotObtained: s.NotObtained,
		Extended:    s.Extended,
		Released:    s.Released,
		Lost:        s.Lost,
		Errors:      s.Errors,
	}
}

// leaseBody is the response for lease, granted on the lock name.
func leaseBody(name string, lease *lock.Lease) Lease {
	return Lease{
		Name:        name,
		Token:       lease.Token(),
		Fence:       lease.Fence(),
		FenceString: strconv.FormatInt(lease.Fence(), 10),
		TTLMillis:   lease.TTL().Milliseconds(),
		ExpiresAt:   lease.Until().UTC().Format(expiresFormat),
	}
}
