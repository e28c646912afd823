// Package admin is Sidecar's admin HTTP API and its client. The Handler
// lists the upstreams and drains or undrains them, so that a deploy script
// can take one app server out of rotation, wait for its requests to
// finish, restart it and put it back; it lists a user's sessions and
// revokes them ("log out everywhere"). The Client does that from Go (it
// is what "sidecar upstreams" and "sidecar sessions" run). docs/admin.md
// is the reference.
//
// Endpoints:
//
//	GET  /upstreams               {"upstreams":[State...]} in configured order
//	POST /upstreams/{name}/drain   drain: no new requests; returns the new State
//	POST /upstreams/{name}/undrain undrain; returns the new State
//	POST /upstreams/{name}/probe   probe it now (proxy.Pool.Probe); returns
//	                              the proxy.ProbeResult, 200 pass or fail
//	GET  /locks/stats             lockservice.Stats of Options.Locker (404 when nil)
//	GET  /sessions?principal=P    SessionList: P's live sessions (no data)
//	DELETE /sessions?principal=P  revoke all of P's sessions; Revoked
//	DELETE /sessions/{handle}     revoke one session; Revoked
//	GET  /sessions/count          SessionCount
//	                              (the /sessions routes: 404 when
//	                              Options.Sessions is nil)
//	GET  /healthz                 200 "ok" (liveness; no authentication)
//	GET  /                        the status page, HTML for people, and
//	POST /ui/...                  its forms (page.go)
//
// Every endpoint but /healthz and the status page requires
// "Authorization: Bearer <token>"
// (checked by package httpauth). The token is compared in constant time
// (over SHA-256 digests, so not even its length leaks); a missing,
// malformed or wrong token gets the same 401 with "WWW-Authenticate:
// Bearer", and a log line with the client's address only, never the token
// presented. Failures are bounded per client address (httpauth.Guard,
// Options.AuthLimits): by default, after 10 within a minute the address
// gets 429 with Retry-After for a minute, the right token included, and
// the log shows the first 5 refusals of each minute and a count of the
// rest.
//
// Errors are JSON, {"error":"..."}: 400 for a missing or malformed
// principal or handle, 401, 429, 404 for an unknown upstream, handle or path,
// 405 (with Allow) for a wrong method, 409 for a session a login
// regenerated while it was being revoked, 413 for a request body over
// 1 MiB, 501 for a store that cannot find or count sessions, 503 (with
// Retry-After) when the session store is unavailable, 500 otherwise.
// Every response carries "Cache-Control: no-store".
//
// The status page (page.go) is HTML for people at GET /: the upstreams
// with drain and undrain buttons, the live-session count and the store's
// latency, and a principal search with revoke buttons, whose forms POST
// to /ui/... and redirect back (303). It takes the token as the password
// of HTTP Basic authentication (any user name), through the same Guard
// and lockout, answers 403 to a Host that is not an IP address,
// localhost or one of Options.Hosts (DNS rebinding), and to a POST whose
// Origin (or Referer) is not its own (CSRF). Its errors are HTML pages.
//
// The handler does not listen. cmd/sidecar serves it on admin.listen, which
// must be a loopback address unless admin.allow_remote is set: the API
// speaks plain HTTP, so the token must not cross a network.
//
// A Client (NewClient) calls the API given its URL or the admin.listen
// address: List, State, SetDraining, Probe, and Wait, which polls an upstream
// until a condition holds (no request in flight, up); Sessions,
// RevokePrincipal, RevokeHandle and SessionCount. Its errors wrap
// ErrUnauthorized for a refused token, proxy.ErrUnknownUpstream for a name
// the pool does not have, sessions.ErrNotFound and sessions.ErrReplaced
// for a handle RevokeHandle cannot revoke, and ErrNotReached for a Wait
// whose context ended first.
package admin

import (
	"errors"
	"net/http"
	"strings"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/httpauth"
	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/proxy"
)

// MaxBodyBytes is the largest request body the API accepts.
const MaxBodyBytes = 1 << 20

// Options configure a Handler.
type Options struct {
	// Token is the bearer token every request but /healthz must present.
	// Required (non-empty); New keeps only its SHA-256 digest.
	Token []byte
	// Pool is the upstream pool the API reports on and drains. Required.
	Pool *proxy.Pool
	// Locker, when non-nil, is served at GET /locks/stats: its counters in
	// the shape of the lock service's own GET /locks/stats
	// (lockservice.Stats). Nil means no such route (404). The Handler does
	// not close it.
	Locker *lock.Locker
	// AuthLimits bound failed authentications; the zero value is
	// httpauth's defaults.
	AuthLimits httpauth.Limits
	// Sessions, when non-nil, is served at /sessions: list, revoke and
	// count sessions (see sessions.go). Nil means no such routes (404).
	Sessions Sessions
	// OnRevoke, when non-nil, is told how many sessions each revoke
	// removed (for the sidecar_sessions_revoked_total metric).
	OnRevoke func(n int)
	// Hosts are the host names, beside IP addresses and localhost, that
	// the status page answers to in a request's Host header (the name of
	// admin.listen when it is one, a TLS proxy's public name); any other
	// Host gets 403, against DNS rebinding. Nil: none; "" is ignored.
	Hosts []string
	// Logger receives failed authentications and drain changes; the zero
	// Logger discards.
	Logger zerolog.Logger
}

// Handler is the admin API. It is safe for concurrent use.
type Handler struct {
	guard  *httpauth.Guard
	pool   *proxy.Pool
	locker *lock.Locker // nil: no /locks/stats
	// sessions is nil without /sessions.
	sessions Sessions
	onRevoke func(n int) // Options.OnRevoke, never nil
	log      zerolog.Logger
	mux      *http.ServeMux // authenticated routes
	page     *page          // the status page
}

var _ http.Handler = (*Handler)(nil)

// New returns the admin API over o.Pool, or an error naming the missing
// option.
func New(o Options) (*Handler, error) {
	switch {
	case len(o.Token) == 0:
		return nil, errors.New("admin: Options.Token is required")
	case o.Pool == nil:
		return nil, errors.New("admin: Options.Pool is required")
	}
	guard, err := httpauth.NewGuard(httpauth.GuardOptions{Token: o.Token, Name: "admin API", Limits: o.AuthLimits, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	h := &Handler{
		guard:  guard,
		pool:   o.Pool,
		locker: o.Locker,
		log:    o.Logger,
		mux:    http.NewServeMux(),

		sessions: o.Sessions,
		onRevoke: o.OnRevoke,
	}
	if h.onRevoke == nil {
		h.onRevoke = func(int) {}
	}
	h.mux.HandleFunc("GET /upstreams", h.listUpstreams)
	h.mux.HandleFunc("POST /upstreams/{name}/drain", h.drain(true))
	h.mux.HandleFunc("POST /upstreams/{name}/undrain", h.drain(false))
	h.mux.HandleFunc("POST /upstreams/{name}/probe", h.probe)
	if h.locker != nil {
		h.mux.HandleFunc("GET /locks/stats", h.lockStats)
	}
	if h.sessions != nil {
		h.sessionRoutes()
	}
	if h.page, err = newPage(h, o.Hosts); err != nil {
		return nil, err
	}
	return h, nil
}

// ServeHTTP answers /healthz, then authenticates the request and routes it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == "/healthz" {
		healthz(w, r)
		return
	}
	if isPagePath(r.URL.Path) {
		h.page.ServeHTTP(w, r)
		return
	}
	if status := h.guard.Check(w, r); status != 0 {
		writeError(w, status, strings.ToLower(http.StatusText(status))) // 401 or 429
		return
	}
	if r.ContentLength > MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, "request body too large")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	if _, pattern := h.mux.Handler(r); pattern == "" {
		// No route: ServeMux's own 404 or 405, with a JSON body.
		h.mux.ServeHTTP(muxErrorWriter{w}, r)
		return
	}
	h.mux.ServeHTTP(w, r)
}

// healthz answers the unauthenticated liveness probe.
func healthz(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok"))
}
