package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RetryOptions bound how a request is retried on another upstream. The
// zero value of each field is its stated default.
//
// A request is retried, whatever its method, when no app can have acted on
// it: the connection was refused or timed out; writing the request failed
// (the app had closed the keep-alive connection, which is what Go reports
// as "server closed idle connection"); or the app reset a reused
// keep-alive connection, which a kernel does when it closes a socket with
// the request still unread. GET, HEAD, OPTIONS, TRACE and requests carrying
// an Idempotency-Key are also retried when the app died before sending
// response headers. Nothing is retried once an app began responding, nor
// after a response-header timeout (a slow app is not a dead one).
//
// One case stays ambiguous and is not retried for other methods: the app
// closes a keep-alive connection cleanly just after Sidecar finished
// writing a request on it. That looks exactly like an app that read the
// request and crashed, and replaying a POST there could run it twice. So
// that such a request is not sent in the first place, the first write of
// such a request (one the transport would not resend by itself, see
// transportResends) on a reused connection checks the socket for the
// app's FIN (see liveConn): a
// connection the app has closed is never written to, however late the
// transport's reader notices. What is left is an app that closes in the
// instant between that check and reading the request; apps that fail
// their health check briefly before closing (a lame-duck period), or a
// drain before the restart, avoid even that.
//
// A request body is replayed from where it was buffered whole, in memory
// or in its temporary file (see Limits). A body too large for both is
// streamed, and a request with one is retried only while no byte of its
// body was read.
type RetryOptions struct {
	// Attempts is the total number of tries; 0 means DefaultRetryAttempts
	// (3), 1 never retries.
	Attempts int
	// Timeout bounds the whole request until response headers, across
	// tries; 0 means DefaultRetryTimeout (15s). Passing it answers 504.
	Timeout time.Duration
	// BufferBytes is how much of a request body is held in memory, so that
	// it can be replayed; 0 means DefaultRetryBufferBytes (1 MiB),
	// negative: none. Behind a Proxy the rest goes to a temporary file (see
	// Limits), and is replayable too; what passes both is streamed, and a
	// streamed body is retried only if not one byte of it was read.
	BufferBytes int64
}

func (o RetryOptions) withDefaults() RetryOptions {
	if o.Attempts <= 0 {
		o.Attempts = DefaultRetryAttempts
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultRetryTimeout
	}
	if o.BufferBytes == 0 {
		o.BufferBytes = DefaultRetryBufferBytes
	}
	return o
}

// errRetryBudget ends a request whose tries took longer than
// RetryOptions.Timeout; it is a deadline, so it maps to 504.
var errRetryBudget = fmt.Errorf("proxy: upstream time budget exhausted: %w", context.DeadlineExceeded)

// errClientBody marks a failure to read the request body from the client:
// a malformed chunk, a body shorter than its Content-Length, a read error
// or timeout on the client's connection. It is the client's fault, so it
// maps to 400 (499 when the client is gone) and never counts against an
// upstream.
var errClientBody = errors.New("proxy: reading the request body from the client")

// poolTransport picks an upstream from the pool for each try, retries as
// RetryOptions describe, and keeps each backend's in-flight and failure
// counts. The interim (1xx) responses the ReverseProxy forwards before
// ModifyResponse runs are scrubbed by the Proxy's statusWriter.
type poolTransport struct {
	pool *Pool
	next http.RoundTripper
	// maxHeader is next's response header limit, 0 when unknown (see
	// attemptTrace.headerOverflow).
	maxHeader int64
	// tries are pooled tryStates (attempt.go).
	tries sync.Pool
}

func (t *poolTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st := stateFrom(req.Context())
	retry := t.pool.state.Load().opts.Retry // one generation for the whole request
	body := st.requestBody()
	if body == nil { // not through a Proxy, which reads it first
		var err error
		if body, err = memoryBody(req, retry.BufferBytes); err != nil {
			return nil, err
		}
	}
	tr, ctx := t.startTry(req, retry.Timeout)
	var tried []*Backend
	var lastErr error
	for attempt := 1; ; attempt++ {
		b, err := t.pool.pick(req, tried)
		if err != nil {
			t.endTry(tr)
			if lastErr != nil { // every available upstream failed this request
				return nil, lastErr
			}
			return nil, err
		}
		at := &tr.first
		if attempt > 1 {
			at = newAttemptTrace() // out of reach of a late hook of the failed try
		}
		if st != nil {
			st.upstream, st.attempts = b.Name, attempt
			st.attempt.Store(at) // for the interim responses (statusWriter)
		}
		out := req.WithContext(httptrace.WithClientTrace(ctx, &at.hooks))
		out.URL = targetURL(b.URL, req.URL)
		out.Body, out.GetBody, out.ContentLength = body.attempt(req)
		at.check = !transportResends(out)
		b.inflight.Add(1)
		resp, err := t.next.RoundTrip(out)
		if err == nil {
			tr.stopBudget()
			b.served.Add(1)
			t.pool.passiveOK(b)
			resp.Body = settleOnClose(resp.Body, t, tr, b, st)
			return resp, nil
		}
		b.inflight.Add(-1)
		if berr := body.clientErr(); berr != nil { // the client's fault, not b's
			t.endTry(tr)
			return nil, fmt.Errorf("%w: %w", errClientBody, berr)
		}
		if req.Context().Err() != nil { // the client went away
			t.endTry(tr)
			return nil, err
		}
		if at.headerOverflow(t.maxHeader) { // the app's fault; see errResponseHeaderTooLarge
			t.endTry(tr)
			t.pool.passiveOK(b)
			return nil, fmt.Errorf("%w: %s sent more than %d bytes: %w", errResponseHeaderTooLarge, b.Name, t.maxHeader, err)
		}
		if context.Cause(ctx) == errRetryBudget {
			t.endTry(tr)
			return nil, fmt.Errorf("%w: last try on %s: %w", errRetryBudget, b.Name, err)
		}
		t.pool.passiveFail(b)
		if attempt >= retry.Attempts || !retryable(req, err, at, body) {
			t.endTry(tr)
			return nil, err
		}
		t.pool.log.Debug().Str("upstream", b.Name).Int("attempt", attempt).Err(err).Msg("retrying on another upstream")
		tried = append(tried, b)
		lastErr = err
	}
}

// retryable applies RetryOptions' rules to a failed try.
func retryable(req *http.Request, err error, tr *attemptTrace, body *replayBody) bool {
	if tr.firstByteSeen.Load() {
		return false // the upstream began responding
	}
	if !body.replayable() {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" || !tr.gotConnSeen.Load() {
		return true // never connected: nothing reached an upstream
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false // slow, not dead: retrying would double its load
	}
	if !tr.sent() {
		return true // no byte of the request left Sidecar, or it never reached the app whole
	}
	if tr.reused.Load() && errors.Is(err, syscall.ECONNRESET) {
		return true // it closed the keep-alive connection with our request unread
	}
	return idempotent(req)
}

func idempotent(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return r.Header.Get("Idempotency-Key") != "" || r.Header.Get("X-Idempotency-Key") != ""
}

// transportResends reports whether net/http's transport itself sends r
// again on a fresh connection when a reused one fails before any of the
// response arrived (the app closed it just before): r is idempotent and
// its body, if any, can be had again (net/http's Request.isReplayable).
// Such a request needs no liveConn check; the transport's own retry is
// invisible here, so it costs the upstream nothing either. Others, a POST
// above all, are checked before they are written.
func transportResends(r *http.Request) bool {
	if r.Body != nil && r.Body != http.NoBody && r.GetBody == nil {
		return false
	}
	return idempotent(r)
}

// targetURL is in's path and query on base's scheme and host, with base's
// path prefixed (as httputil.ProxyRequest.SetURL does).
func targetURL(base, in *url.URL) *url.URL {
	u := *in
	u.Scheme, u.Host = base.Scheme, base.Host
	if base.Path != "" && base.Path != "/" {
		u.Path = joinPath(base.Path, in.Path)
		if in.RawPath != "" {
			u.RawPath = joinPath(base.EscapedPath(), in.EscapedPath())
		}
	}
	switch {
	case base.RawQuery == "":
	case in.RawQuery == "":
		u.RawQuery = base.RawQuery
	default:
		u.RawQuery = base.RawQuery + "&" + in.RawQuery
	}
	return &u
}

func joinPath(a, b string) string {
	switch as, bs := strings.HasSuffix(a, "/"), strings.HasPrefix(b, "/"); {
	case as && bs:
		return a + b[1:]
	case !as && !bs:
		return a + "/" + b
	}
	return a + b
}
