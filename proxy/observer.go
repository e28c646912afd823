package proxy

import (
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Observer receives what the proxy does, for metrics, so that this package
// knows no metrics library. Its methods run on the request path, on the
// request's goroutine: they must be cheap, never block, and be safe for
// concurrent use. A nil Options.Observer observes nothing.
//
// The pool's state (health, draining, ejections, in-flight requests,
// panic mode) is not pushed: read it with Pool.States and Pool.Panicking
// when metrics are scraped.
type Observer interface {
	// Request is called once for every request, after its response (or
	// its failure) and before its access-log line.
	Request(RequestInfo)
}

// RequestInfo is what Observer.Request learns of one request. It holds no
// cookie, token, session data or path.
type RequestInfo struct {
	// Status is the status the client got; StatusClientClosed (499) when
	// the client went away first, 101 for an upgrade, 0 when the handler
	// wrote nothing.
	Status int
	// Upstream is the name of the upstream of the last try, "" when the
	// request reached none (the store, a session lock or the pool
	// refused it first).
	Upstream string
	// Duration is the whole time in the proxy, until the handler returns.
	Duration time.Duration
	// UpstreamDuration is the time from handing the request to the pool
	// until the app's response headers arrived or the last try failed,
	// across retries; 0 when no upstream was tried.
	UpstreamDuration time.Duration
	// Session is what happened to the request's session.
	Session sessions.Outcome
	// Expired: the request's cookie verified but its session was not
	// found (expired, deleted or never stored) when it was loaded.
	Expired bool
	// HeaderBytes is the length of the X-Sidecar-Session JWT sent to the
	// app; 0 when none was signed.
	HeaderBytes int
	// Error is the kind of failure ("store_unavailable",
	// "upstream_timeout", ... as error_kind in the access log), "" for a
	// request that did not fail.
	Error string
}

// observe hands the request's summary to the Observer, if any.
func (p *Proxy) observe(st *reqState) {
	if p.observer == nil {
		return
	}
	info := RequestInfo{
		Status:           st.sw.status,
		Upstream:         st.upstream,
		Duration:         st.duration(),
		UpstreamDuration: st.upstreamTime,
		Expired:          st.expired,
		HeaderBytes:      len(st.jwt),
	}
	if st.sess != nil {
		info.Session = st.sess.Outcome()
	}
	if st.failed {
		info.Error = st.errKind.String()
	}
	p.observer.Request(info)
}

// upstreamStarted stamps the moment the request goes to the pool.
func (st *reqState) upstreamStarted() {
	st.upstreamStart = time.Now()
}

// upstreamDone records the time since upstreamStarted, once: the first
// of the response headers and the transport's failure.
func (st *reqState) upstreamDone() {
	if st.upstreamTime == 0 && !st.upstreamStart.IsZero() {
		st.upstreamTime = time.Since(st.upstreamStart)
	}
}
