// Package admin is Sidecar's admin HTTP API: an http.Handler that lists the
// upstreams and drains or undrains them, so that a deploy script can take
// one app server out of rotation, wait for its requests to finish, restart
// it and put it back.
//
// Endpoints:
//
//	GET  /upstreams               {"upstreams":[State...]} in configured order
//	POST /upstreams/{name}/drain   drain: no new requests; returns the new State
//	POST /upstreams/{name}/undrain undrain; returns the new State
//	GET  /healthz                 200 "ok" (liveness; no authentication)
//
// Further endpoints can be mounted with [Handler.Handle]; they sit behind
// the same authentication and limits.
//
// Every endpoint but /healthz requires "Authorization: Bearer <token>". The
// token is compared in constant time (over SHA-256 digests, so not even
// its length leaks); a missing, malformed or wrong token gets the same 401
// with "WWW-Authenticate: Bearer", and a log line with the client's address
// only, never the token presented.
//
// Errors are JSON, {"error":"..."}: 401, 404 for an unknown upstream or
// path, 405 (with Allow) for a wrong method, 413 for a request body over
// 1 MiB, 500 otherwise. Every response carries "Cache-Control: no-store".
//
// The handler does not listen. cmd/sidecar serves it on admin.listen, which
// must be a loopback address unless admin.allow_remote is set: the API
// speaks plain HTTP, so the token must not cross a network.
package admin

import (
	"errors"
	"net/http"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/proxy/bearer"
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
	// Logger receives failed authentications and drain changes; the zero
	// Logger discards.
	Logger zerolog.Logger
}

// Handler is the admin API. It is safe for concurrent use.
type Handler struct {
	token bearer.Token
	pool  *proxy.Pool
	log   zerolog.Logger
	mux   *http.ServeMux // authenticated routes
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
	h := &Handler{token: bearer.New(o.Token), pool: o.Pool, log: o.Logger, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /upstreams", h.listUpstreams)
	h.mux.HandleFunc("POST /upstreams/{name}/drain", h.drain(true))
	h.mux.HandleFunc("POST /upstreams/{name}/undrain", h.drain(false))
	return h, nil
}

// Handle mounts hd at pattern (a Go 1.22 ServeMux pattern such as
// "POST /locks/{key}") behind the API's authentication and body limit.
// Like http.ServeMux.Handle it panics on a pattern that is invalid or
// conflicts with one already mounted; "/healthz" is always the Handler's
// own. Call it before serving.
func (h *Handler) Handle(pattern string, hd http.Handler) {
	h.mux.Handle(pattern, hd)
}

// ServeHTTP answers /healthz, then authenticates the request and routes it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Path == "/healthz" {
		healthz(w, r)
		return
	}
	if !h.token.Allows(r) {
		h.log.Warn().Str("remote_addr", r.RemoteAddr).Msg("admin API: authentication failed")
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeError(w, http.StatusUnauthorized, "unauthorized")
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
