package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"

	"github.com/sidecarproxy/sidecar/sessions"
)

// StatusClientClosed is logged (never sent: nobody is listening) when the
// client went away before the response, as nginx and Caddy do.
const StatusClientClosed = 499

// errorKind classifies a failed request for the status code and the log.
type errorKind uint8

const (
	kindUpstream        errorKind = iota // app unreachable or broke the connection: 502
	kindApp                              // app response broke the protocol: 502
	kindStore                            // store unavailable: 503 + Retry-After
	kindTimeout                          // upstream too slow: 504
	kindClientGone                       // client cancelled: 499, not an error
	kindNoUpstream                       // every upstream down or draining: 503 + Retry-After
	kindLockTimeout                      // session lock held too long by another request: 503 + Retry-After
	kindLockUnavailable                  // lock backend unreachable: 503 + Retry-After
	kindConflict                         // guarded write lost to another write: 409
	kindClientBody                       // client sent a broken request body: 400
	kindReplaced                         // write with a cookie a regenerate moved away: 409
	kindHeaderTooLarge                   // request head over Limits.MaxHeaderBytes: 431
	kindBodyTooLarge                     // request body over Limits.MaxBodyBytes: 413
	kindClientTimeout                    // request body too slow (Limits): 408
	kindBufferFull                       // no memory or disk left for the body: 503 + Retry-After
)

var kindNames = [...]string{"upstream", "app_protocol", "store_unavailable", "upstream_timeout", "client_canceled", "no_upstream",
	"session_lock_timeout", "session_lock_unavailable", "session_conflict", "client_body", "session_replaced",
	"header_too_large", "body_too_large", "client_timeout", "body_buffer_full"}

func (k errorKind) String() string { return kindNames[k] }

// clientFault reports whether the request failed for what the client sent.
func (k errorKind) clientFault() bool {
	switch k {
	case kindClientBody, kindClientTimeout, kindBodyTooLarge, kindHeaderTooLarge:
		return true
	}
	return false
}

// classify is the one place a failed request's status is decided.
func classify(r *http.Request, err error) (errorKind, int) {
	var ne net.Error
	switch {
	// A client's request is refused for what it sent even when reading it
	// ended the request's context (net/http cancels it on any read error):
	// a client that half-closed after too short a body still reads the
	// answer.
	case errors.Is(err, errHeaderTooLarge):
		return kindHeaderTooLarge, http.StatusRequestHeaderFieldsTooLarge
	case errors.Is(err, errBodyTooLarge):
		return kindBodyTooLarge, http.StatusRequestEntityTooLarge
	case errors.Is(err, errSlowUpload):
		return kindClientTimeout, http.StatusRequestTimeout
	case errors.Is(err, errClientBody) && (r.Context().Err() == nil || errors.Is(err, io.ErrUnexpectedEOF)):
		// Malformed, or ended early (io.ErrUnexpectedEOF: the client
		// closed its side); a reset connection is a client gone.
		return kindClientBody, http.StatusBadRequest
	case errors.Is(r.Context().Err(), context.Canceled):
		return kindClientGone, StatusClientClosed
	case errors.Is(err, errBufferFull):
		return kindBufferFull, http.StatusServiceUnavailable
	case errors.Is(err, sessions.ErrBadPatch), errors.Is(err, sessions.ErrBadAction),
		errors.Is(err, sessions.ErrBadPrincipal), errors.Is(err, sessions.ErrTooLarge),
		errors.Is(err, errResponseHeaderTooLarge):
		return kindApp, http.StatusBadGateway
	case errors.Is(err, sessions.ErrStoreUnavailable):
		return kindStore, http.StatusServiceUnavailable
	case errors.Is(err, ErrNoUpstream):
		return kindNoUpstream, http.StatusServiceUnavailable
	case errors.Is(err, errLockTimeout):
		return kindLockTimeout, http.StatusServiceUnavailable
	case errors.Is(err, errLockUnavailable):
		return kindLockUnavailable, http.StatusServiceUnavailable
	case errors.Is(err, sessions.ErrConflict):
		return kindConflict, http.StatusConflict
	case errors.Is(err, sessions.ErrReplaced):
		return kindReplaced, http.StatusConflict
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return kindTimeout, http.StatusGatewayTimeout
	}
	return kindUpstream, http.StatusBadGateway
}

// writeError answers a failed request. Bodies are generic: the cause goes
// to the log with the request id, never to the client. A 502, 503 or 504
// gets the error page (ErrorPages) in the format the request's Accept
// header prefers: HTML, JSON or plain text; other statuses plain text.
func (p *Proxy) writeError(w http.ResponseWriter, r *http.Request, st *reqState, err error) {
	kind, status := classify(r, err)
	st.err, st.errKind = err, kind
	st.failed = true
	if kind == kindClientGone {
		st.sw.status = status // for the log; the client is gone
		return
	}
	contentType, body := p.pages.Load().render(status, r.Header.Get("Accept"), st.id)
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Vary", "Accept")
	h.Set("X-Request-Id", st.id)
	switch kind {
	case kindStore, kindNoUpstream, kindLockTimeout, kindLockUnavailable:
		h.Set("Retry-After", p.retryAfter)
	case kindBufferFull:
		h.Set("Retry-After", p.retryAfter)
		h.Set("Connection", "close") // the rest of the body is not read
	case kindHeaderTooLarge, kindBodyTooLarge, kindClientTimeout, kindClientBody:
		h.Set("Connection", "close") // the rest of the body is not read
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// SetErrorPages replaces the error pages for the errors answered from now
// on; nil means the built-in pages.
func (p *Proxy) SetErrorPages(pages *ErrorPages) {
	if pages == nil {
		pages = &ErrorPages{}
	}
	p.pages.Store(pages)
}
