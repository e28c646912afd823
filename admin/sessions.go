package admin

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Sessions is what the admin API needs of the session side to list,
// revoke and count sessions; *sessions.Manager implements it.
type Sessions interface {
	// List describes principal's live sessions (at most
	// sessions.MaxListed) and says how many it has.
	List(ctx context.Context, principal string) ([]sessions.Info, int, error)
	// RevokePrincipal deletes every session of principal and says how
	// many it deleted.
	RevokePrincipal(ctx context.Context, principal string) (int, error)
	// RevokeHandle deletes the session whose handle is handle
	// (sessions.ErrNotFound, sessions.ErrReplaced).
	RevokeHandle(ctx context.Context, handle string) error
	// Count counts the live sessions.
	Count(ctx context.Context) (sessions.Count, error)
}

var _ Sessions = (*sessions.Manager)(nil)

// Session is one live session in GET /sessions. It never holds the
// session's data, token or store key. Times are UTC.
type Session struct {
	// Handle is the session's public handle, the sid its app sees; ""
	// for a session created before handles were kept (revoke it by
	// principal).
	Handle    string    `json:"handle"`
	Principal string    `json:"principal"`
	Created   time.Time `json:"created"`
	// LastSeen is when a request last slid the idle expiry: late by up
	// to session.touch_interval.
	LastSeen        time.Time `json:"last_seen"`
	IdleExpires     time.Time `json:"idle_expires"`
	AbsoluteExpires time.Time `json:"absolute_expires"`
	// ClientIP and UserAgent are those of the request that created the
	// session (the client as the trusted proxies say; the User-Agent cut
	// to 256 bytes); "" when unknown.
	ClientIP  string `json:"client_ip"`
	UserAgent string `json:"user_agent"`
}

// SessionList is the body of GET /sessions?principal=P.
type SessionList struct {
	Principal string `json:"principal"`
	// Sessions are the principal's live sessions, oldest first, at most
	// sessions.MaxListed (1000) of them.
	Sessions []Session `json:"sessions"`
	// Total is how many live sessions the principal has: more than
	// len(Sessions) when the list was cut.
	Total int `json:"total"`
}

// Revoked is the body of DELETE /sessions?principal=P and DELETE
// /sessions/{handle}.
type Revoked struct {
	Principal string `json:"principal,omitempty"`
	Handle    string `json:"handle,omitempty"`
	// Revoked is how many sessions were deleted.
	Revoked int `json:"revoked"`
}

// SessionCount is the body of GET /sessions/count.
type SessionCount struct {
	// Live is the number of live sessions.
	Live int64 `json:"live"`
	// Approximate is true when the store estimates the count (Redis:
	// it may miss sessions within a minute of an expiry they have since
	// pushed back); bolt and memory count exactly.
	Approximate bool `json:"approximate"`
}

// sessionRoutes adds the /sessions endpoints.
func (h *Handler) sessionRoutes() {
	h.mux.HandleFunc("GET /sessions", h.listSessions)
	h.mux.HandleFunc("DELETE /sessions", h.revokePrincipal)
	h.mux.HandleFunc("DELETE /sessions/{handle}", h.revokeHandle)
	h.mux.HandleFunc("GET /sessions/count", h.countSessions)
}

// principalParam is the request's principal query parameter: exactly one,
// non-empty, at most sessions.MaxPrincipalBytes. Anything else is a
// badRequest.
func principalParam(r *http.Request) (string, error) { return principalIn(r.URL.Query()["principal"]) }

// principalIn is principalParam over the values vs of a query or form.
func principalIn(vs []string) (string, error) {
	switch {
	case len(vs) != 1 || vs[0] == "":
		return "", badRequest("give exactly one non-empty principal: ?principal=P")
	case len(vs[0]) > sessions.MaxPrincipalBytes:
		return "", badRequest(fmt.Sprintf("principal longer than %d bytes", sessions.MaxPrincipalBytes))
	}
	return vs[0], nil
}

// listSessions answers GET /sessions?principal=P.
func (h *Handler) listSessions(w http.ResponseWriter, r *http.Request) {
	p, err := principalParam(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	list, err := h.list(r, p)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// list describes principal's live sessions for r, from the API or the
// status page, logging a store failure.
func (h *Handler) list(r *http.Request, p string) (SessionList, error) {
	infos, total, err := h.sessions.List(r.Context(), p)
	if err != nil {
		h.storeFailed(r, "listing sessions", err)
		return SessionList{}, err
	}
	list := SessionList{Principal: p, Sessions: make([]Session, len(infos)), Total: total}
	for i, in := range infos {
		list.Sessions[i] = Session{
			Handle: in.Handle, Principal: in.Principal, Created: in.Created.UTC(), LastSeen: in.LastSeen.UTC(),
			IdleExpires: in.IdleExp.UTC(), AbsoluteExpires: in.AbsExp.UTC(),
			ClientIP: in.ClientIP, UserAgent: in.UserAgent,
		}
	}
	return list, nil
}

// revokePrincipal answers DELETE /sessions?principal=P: log out
// everywhere.
func (h *Handler) revokePrincipal(w http.ResponseWriter, r *http.Request) {
	p, err := principalParam(r)
	if err != nil {
		writeErr(w, err)
		return
	}
	n, err := h.revokeAll(r, p)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Revoked{Principal: p, Revoked: n})
}

// revokeAll revokes every session of p for r, from the API or the status
// page, and logs what it revoked and a store failure.
func (h *Handler) revokeAll(r *http.Request, p string) (int, error) {
	n, err := h.sessions.RevokePrincipal(r.Context(), p)
	h.onRevoke(n)
	if n > 0 || err == nil {
		h.log.Info().Str("principal", p).Int("revoked", n).Str("remote_addr", r.RemoteAddr).
			Msg("admin API: sessions of a principal revoked")
	}
	if err != nil {
		h.storeFailed(r, "revoking sessions", err)
	}
	return n, err
}

// revokeHandle answers DELETE /sessions/{handle}.
func (h *Handler) revokeHandle(w http.ResponseWriter, r *http.Request) {
	handle := r.PathValue("handle")
	if err := h.revokeOne(r, handle); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Revoked{Handle: handle, Revoked: 1})
}

// revokeOne revokes the session whose handle is handle for r, from the
// API or the status page: a badRequest for a malformed handle. It logs
// the revoke and a store failure.
func (h *Handler) revokeOne(r *http.Request, handle string) error {
	if !sessions.ValidHandle(handle) {
		return badRequest("a handle is 32 lower-case hex digits (the sid)")
	}
	if err := h.sessions.RevokeHandle(r.Context(), handle); err != nil {
		h.storeFailed(r, "revoking a session", err)
		return err
	}
	h.onRevoke(1)
	h.log.Info().Str("handle", handle).Str("remote_addr", r.RemoteAddr).Msg("admin API: session revoked")
	return nil
}

// countSessions answers GET /sessions/count.
func (h *Handler) countSessions(w http.ResponseWriter, r *http.Request) {
	c, err := h.sessions.Count(r.Context())
	if err != nil {
		h.storeFailed(r, "counting sessions", err)
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, SessionCount{Live: c.Live, Approximate: c.Approximate})
}

// storeFailed logs a store failure (not a refusal such as an unknown
// handle, which the answer says).
func (h *Handler) storeFailed(r *http.Request, doing string, err error) {
	if status(err) >= http.StatusInternalServerError {
		h.log.Error().Err(err).Str("remote_addr", r.RemoteAddr).Msg("admin API: " + doing + " failed")
	}
}
