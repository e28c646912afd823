package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
)

// ErrorResponse is the body of every error response.
type ErrorResponse struct {
	Error string `json:"error"`
}

// badRequest is a request the API refuses with 400, saying why.
type badRequest string

func (b badRequest) Error() string { return string(b) }

// writeErr answers with err's status and message (classify).
func writeErr(w http.ResponseWriter, err error) {
	code, msg := classify(err)
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, code, msg)
}

// status is err's HTTP status (classify).
func status(err error) int {
	code, _ := classify(err)
	return code
}

// classify is the one place an error becomes an HTTP status, with the
// message the client gets (never a store's own error text).
func classify(err error) (int, string) {
	var bad badRequest
	switch {
	case errors.Is(err, proxy.ErrUnknownUpstream):
		// err reads `proxy: unknown upstream: "name"`.
		return http.StatusNotFound, strings.TrimPrefix(err.Error(), "proxy: ")
	case errors.As(err, &bad):
		return http.StatusBadRequest, string(bad)
	case errors.Is(err, sessions.ErrNotFound):
		return http.StatusNotFound, "no live session has that handle"
	case errors.Is(err, sessions.ErrReplaced):
		return http.StatusConflict, "the session was regenerated (a login) while being revoked: list the principal's sessions again"
	case errors.Is(err, sessions.ErrNoInventory):
		return http.StatusNotImplemented, "the session store cannot find or count sessions"
	case errors.Is(err, sessions.ErrStoreUnavailable):
		return http.StatusServiceUnavailable, "the session store is unavailable"
	}
	return http.StatusInternalServerError, "internal error"
}

// writeError answers {"error": msg} with status.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, ErrorResponse{Error: msg})
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// muxErrorWriter turns the plain-text 404 and 405 that http.ServeMux writes
// for a request no route matches into JSON errors, keeping the status and
// the Allow header.
type muxErrorWriter struct{ http.ResponseWriter }

// WriteHeader writes the JSON error for status in place of ServeMux's.
func (m muxErrorWriter) WriteHeader(status int) {
	msg := strings.ToLower(http.StatusText(status))
	writeJSON(m.ResponseWriter, status, ErrorResponse{Error: msg})
}

// Write discards ServeMux's text body.
func (m muxErrorWriter) Write(b []byte) (int, error) { return len(b), nil }
