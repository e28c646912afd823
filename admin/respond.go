package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/sidecarproxy/sidecar/proxy"
)

// ErrorResponse is the body of every error response.
type ErrorResponse struct {
	Error string `json:"error"`
}

// writeErr answers with err's status: the one place an error becomes an
// HTTP status.
func writeErr(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, proxy.ErrUnknownUpstream):
		// err reads `proxy: unknown upstream: "name"`.
		writeError(w, http.StatusNotFound, strings.TrimPrefix(err.Error(), "proxy: "))
	default:
		writeError(w, http.StatusInternalServerError, "internal error")
	}
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
