package lockservice

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/httpauth"
	"github.com/sidecarproxy/sidecar/lock"
)

// Limits and defaults.
const (
	// DefaultMaxTTL is Options.MaxTTL's default.
	DefaultMaxTTL = 5 * time.Minute
	// DefaultMaxWait is Options.MaxWait's default.
	DefaultMaxWait = 30 * time.Second
	// CallTimeout bounds an extend or a release, which run on after their
	// client has gone, and the release of a lease granted to a client
	// that had gone.
	CallTimeout = 5 * time.Second
	// MaxBodyBytes is the largest request body the service accepts.
	MaxBodyBytes = 64 << 10
	// KeyPrefix starts the Locker key of every lock the service takes:
	// the lock name is KeyPrefix+name.
	KeyPrefix = "app:"
)

// Options configure a Handler.
type Options struct {
	// Locker holds the locks. Required. The Handler does not close it.
	Locker *lock.Locker
	// Token is the bearer token every request must present: the apps'
	// token, not the admin API's. Required (non-empty); New keeps only its
	// SHA-256 digest.
	Token []byte
	// MaxTTL is the longest lease an app may ask for, by acquire or
	// extend. 0 means DefaultMaxTTL (5m).
	MaxTTL time.Duration
	// MaxWait is the longest an acquire may wait for the lock. 0 means
	// DefaultMaxWait (30s).
	MaxWait time.Duration
	// AuthLimits bound failed authentications (httpauth.Guard); the zero
	// value is httpauth's defaults.
	AuthLimits httpauth.Limits
	// Logger receives failed authentications, grants and releases (at
	// debug) and lock backend failures; the zero Logger discards.
	Logger zerolog.Logger
}

// Handler is the lock service. It is safe for concurrent use.
type Handler struct {
	guard   *httpauth.Guard
	locker  *lock.Locker
	maxTTL  time.Duration
	maxWait time.Duration
	log     zerolog.Logger
}

var _ http.Handler = (*Handler)(nil)

// New returns the lock service over o.Locker, or an error naming the
// missing or invalid option.
func New(o Options) (*Handler, error) {
	switch {
	case o.Locker == nil:
		return nil, errors.New("lockservice: Options.Locker is required")
	case len(o.Token) == 0:
		return nil, errors.New("lockservice: Options.Token is required")
	case o.MaxTTL < 0:
		return nil, fmt.Errorf("lockservice: Options.MaxTTL %v is negative", o.MaxTTL)
	case o.MaxTTL > 0 && o.MaxTTL < lock.MinTTL:
		return nil, fmt.Errorf("lockservice: Options.MaxTTL %v is below %v", o.MaxTTL, lock.MinTTL)
	case o.MaxWait < 0:
		return nil, fmt.Errorf("lockservice: Options.MaxWait %v is negative", o.MaxWait)
	}
	guard, err := httpauth.NewGuard(httpauth.GuardOptions{Token: o.Token, Name: "lock service", Limits: o.AuthLimits, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	h := &Handler{
		guard:   guard,
		locker:  o.Locker,
		maxTTL:  o.MaxTTL,
		maxWait: o.MaxWait,
		log:     o.Logger,
	}
	if h.maxTTL == 0 {
		h.maxTTL = DefaultMaxTTL
	}
	if h.maxWait == 0 {
		h.maxWait = DefaultMaxWait
	}
	return h, nil
}

// ServeHTTP authenticates the request and routes it.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if status := h.guard.Check(w, r); status != 0 {
		writeError(w, status, ErrorResponse{Error: strings.ToLower(http.StatusText(status))}) // 401 or 429
		return
	}
	if r.ContentLength > MaxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, ErrorResponse{Error: "request body too large"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	h.route(w, r)
}

// route sends r to its endpoint. It routes by hand rather than with an
// http.ServeMux because a lock name may contain "/", and a ServeMux
// wildcard matches one segment only (and would redirect paths it
// cleans).
func (h *Handler) route(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/locks/stats" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD")
			return
		}
		h.stats(w, r)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/locks/")
	i := strings.LastIndexByte(rest, '/')
	if !ok || i < 0 {
		writeError(w, http.StatusNotFound, ErrorResponse{Error: "not found"})
		return
	}
	name, action := rest[:i], rest[i+1:]
	var serve func(http.ResponseWriter, *http.Request, string)
	switch action {
	case "acquire":
		serve = h.acquire
	case "extend":
		serve = h.extend
	case "release":
		serve = h.release
	default:
		writeError(w, http.StatusNotFound, ErrorResponse{Error: "not found"})
		return
	}
	if r.Method != http.MethodPost {
		methodNotAllowed(w, "POST")
		return
	}
	if err := checkName(name); err != nil {
		h.writeErr(w, r, "", err) // an invalid name is not echoed, nor logged
		return
	}
	serve(w, r, name)
}

// methodNotAllowed answers 405 with Allow.
func methodNotAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, ErrorResponse{Error: "method not allowed"})
}
