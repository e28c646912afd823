package lockservice

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sidecarproxy/sidecar/lock"
)

// statusClientClosedRequest answers a client that left while it waited
// (nginx's 499; nobody reads it, but the access log shows it).
const statusClientClosedRequest = 499

// retryAfter is the Retry-After, in seconds, of a 503.
const retryAfter = "1"

// ErrorResponse is the body of every error response.
type ErrorResponse struct {
	// Error says what went wrong: "not obtained", "not held",
	// "lock backend unavailable", or what is wrong with the request.
	Error string `json:"error"`
	// Name is the lock's name, when the request named one.
	Name string `json:"name,omitempty"`
	// Param is the parameter at fault ("name", "ttl", "wait", "token"),
	// for a 400.
	Param string `json:"param,omitempty"`
}

// statusOf is the one place an error becomes an HTTP status, with the
// error message the client gets.
func statusOf(err error) (int, ErrorResponse) {
	if re, ok := errors.AsType[*requestError](err); ok {
		return re.status, ErrorResponse{Error: re.msg, Param: re.param}
	}
	switch {
	case errors.Is(err, context.Canceled):
		// Only the request's context is ever cancelled: an acquire whose
		// client went away while it waited.
		return statusClientClosedRequest, ErrorResponse{Error: "client closed request"}
	case errors.Is(err, lock.ErrUnavailable):
		// Before ErrNotObtained, which wraps it when the last attempt
		// failed for want of Redis.
		return http.StatusServiceUnavailable, ErrorResponse{Error: "lock backend unavailable"}
	case errors.Is(err, lock.ErrNotObtained):
		return http.StatusConflict, ErrorResponse{Error: "not obtained"}
	case errors.Is(err, lock.ErrNotHeld):
		return http.StatusConflict, ErrorResponse{Error: "not held"}
	}
	// Any other failure of the Locker (a deadline, a Redis error not
	// classified) is the backend's too.
	return http.StatusServiceUnavailable, ErrorResponse{Error: "lock backend unavailable"}
}

// writeErr answers r, about the lock name, with err's status, and logs
// the backend's failures. err never carries a token.
func (h *Handler) writeErr(w http.ResponseWriter, r *http.Request, name string, err error) {
	status, body := statusOf(err)
	body.Name = name
	ev := h.log.Debug()
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", retryAfter)
		ev = h.log.Warn()
	}
	ev.Err(err).Str("lock", name).Int("status", status).Str("remote_addr", r.RemoteAddr).
		Msg("lock service: request refused")
	writeError(w, status, body)
}

// writeError answers body with status.
func writeError(w http.ResponseWriter, status int, body ErrorResponse) {
	writeJSON(w, status, body)
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
