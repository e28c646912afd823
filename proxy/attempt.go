package proxy

import (
	"context"
	"io"
	"net/http"
	"net/http/httptrace"
	"sync"
	"sync/atomic"
	"time"
)

// tryState is the bookkeeping of one request through poolTransport: the
// context its time budget (RetryOptions.Timeout) cancels, the timer that
// does it, and the trace of its first attempt. tryStates are pooled with
// their timer and their trace hooks made once, so a request whose first
// attempt succeeds allocates none of them: only its cancelable context
// and the wrapper of its response body (settleBody) are its own. A retry
// traces each further attempt with a fresh attemptTrace, which a late
// hook of the failed attempt cannot reach.
type tryState struct {
	first  attemptTrace
	budget *time.Timer // calls expire; stopped while pooled

	mu     sync.Mutex
	cancel context.CancelCauseFunc // the request context's; nil once settled
	fired  bool                    // budget fired, or may still: never pool tr again
}

// startTry takes a tryState from the pool and starts the request's
// budget of timeout.
func (t *poolTransport) startTry(req *http.Request, timeout time.Duration) (*tryState, context.Context) {
	tr, _ := t.tries.Get().(*tryState)
	if tr == nil {
		tr = &tryState{}
		tr.first.bind()
		tr.budget = time.AfterFunc(time.Hour, tr.expire)
		tr.budget.Stop()
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	tr.mu.Lock()
	tr.cancel = cancel
	tr.mu.Unlock()
	tr.budget.Reset(timeout)
	return tr, ctx
}

// expire ends the request with errRetryBudget, unless it has ended.
func (tr *tryState) expire() {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.cancel != nil {
		tr.cancel(errRetryBudget)
	}
}

// stopBudget stops the budget: the response headers arrived, or the
// request is over.
func (tr *tryState) stopBudget() {
	if !tr.budget.Stop() {
		tr.mu.Lock()
		tr.fired = true // expire ran, or is about to
		tr.mu.Unlock()
	}
}

// endTry ends a request that failed: its budget and its context.
func (t *poolTransport) endTry(tr *tryState) {
	tr.stopBudget()
	t.settle(tr)
}

// settle cancels the request's context (its response body is closed, or
// it failed) and puts tr back in the pool when nothing of this request
// can touch it any more: the budget did not fire and no hook of the first
// attempt is still to come. Otherwise tr is left to the garbage
// collector.
func (t *poolTransport) settle(tr *tryState) {
	tr.mu.Lock()
	cancel, fired := tr.cancel, tr.fired
	tr.cancel = nil
	tr.mu.Unlock()
	if cancel == nil {
		return // settled already
	}
	cancel(nil)
	if fired || !tr.first.quiet() {
		return
	}
	tr.first.reset()
	t.tries.Put(tr)
}

// attemptTrace records what one try got as far as, through the hooks of
// an httptrace.ClientTrace bound to it once (bind).
type attemptTrace struct {
	hooks httptrace.ClientTrace
	// the hooks' functions, made once; hooks is reset to them, for
	// httptrace.WithClientTrace adds the hooks of the context's trace to
	// the one it is given
	gotConn      func(httptrace.GotConnInfo)
	wroteRequest func(httptrace.WroteRequestInfo)
	firstByte    func()

	gotConnSeen, reused, wrote, wroteSeen, firstByteSeen atomic.Bool
	// check is set, before the try, when its request is one the
	// transport would not resend by itself (see transportResends): only
	// then is a reused connection armed for liveConn's check.
	check bool
	// conn is the try's connection when it is a liveConn, and base its
	// byte count when the try got it.
	conn atomic.Pointer[liveConn]
	base atomic.Int64
	// readBase is the connection's read count where the transport's
	// response header limit last started counting: when the try got the
	// connection, and after each interim (1xx) response (interim).
	readBase atomic.Int64
}

// newAttemptTrace returns a bound attemptTrace.
func newAttemptTrace() *attemptTrace {
	a := &attemptTrace{}
	a.bind()
	return a
}

// bind makes a's hooks.
func (a *attemptTrace) bind() {
	a.gotConn = a.onGotConn
	a.wroteRequest = a.onWroteRequest
	a.firstByte = func() { a.firstByteSeen.Store(true) }
	a.hooks = httptrace.ClientTrace{GotConn: a.gotConn, WroteRequest: a.wroteRequest, GotFirstResponseByte: a.firstByte}
}

// reset readies a for another request.
func (a *attemptTrace) reset() {
	a.hooks = httptrace.ClientTrace{GotConn: a.gotConn, WroteRequest: a.wroteRequest, GotFirstResponseByte: a.firstByte}
	a.check = false
	a.gotConnSeen.Store(false)
	a.reused.Store(false)
	a.wrote.Store(false)
	a.wroteSeen.Store(false)
	a.firstByteSeen.Store(false)
	a.conn.Store(nil)
	a.base.Store(0)
	a.readBase.Store(0)
}

// quiet reports whether no hook of the try can still run: it never got
// a connection, or the transport has reported its write (the last hook
// of a try, which may come after the response).
func (a *attemptTrace) quiet() bool { return !a.gotConnSeen.Load() || a.wroteSeen.Load() }

func (a *attemptTrace) onGotConn(i httptrace.GotConnInfo) {
	a.gotConnSeen.Store(true)
	a.reused.Store(i.Reused)
	if lc, ok := asLiveConn(i.Conn); ok {
		a.base.Store(lc.written.Load())
		a.readBase.Store(lc.read.Load())
		a.conn.Store(lc)
		if i.Reused && a.check {
			lc.armed.Store(true) // see liveConn
		}
	}
}

func (a *attemptTrace) onWroteRequest(i httptrace.WroteRequestInfo) {
	if i.Err == nil {
		a.wrote.Store(true)
	}
	a.wroteSeen.Store(true)
}

// interim notes an interim (1xx) response: the transport's response
// header limit starts counting again.
func (a *attemptTrace) interim() {
	if c := a.conn.Load(); c != nil {
		a.readBase.Store(c.read.Load())
	}
}

// headerOverflow reports whether a failed try failed because the app's
// response headers passed limit bytes. net/http says so only in an error
// string; the transport reads at most limit bytes of headers from the
// connection (counting afresh after each 1xx response it reports), so
// that many bytes read on a liveConn since then is the same condition it
// tests. Without a liveConn (a platform where it cannot peek, or a custom
// transport) it reports false and the failure stays an upstream one.
func (a *attemptTrace) headerOverflow(limit int64) bool {
	c := a.conn.Load()
	return limit > 0 && c != nil && a.firstByteSeen.Load() && c.read.Load()-a.readBase.Load() >= limit
}

// sent reports whether the request went out whole or in part. On a
// liveConn that is whether any byte was written to the socket during the
// try: httptrace's WroteRequest fires once the request is in the
// transport's buffer, before the flush that may fail (for instance after
// the app closed the connection, which Go then reports as "server closed
// idle connection" although nothing was sent). Elsewhere it is
// WroteRequest.
func (a *attemptTrace) sent() bool {
	if c := a.conn.Load(); c != nil {
		return c.written.Load() > a.base.Load()
	}
	return a.wrote.Load()
}

// settleOnClose wraps the body of a successful try so that its request is
// settled (the backend's in-flight count, the context, tr back to the
// pool) once, when the body is closed. It keeps io.ReadWriteCloser for 101
// Switching Protocols responses (the ReverseProxy needs it to tunnel
// upgrades). The wrapper is the request's own (in its reqState when there
// is one), never pooled: a second Close, which the ReverseProxy may make,
// must find it settled.
func settleOnClose(body io.ReadCloser, t *poolTransport, tr *tryState, b *Backend, st *reqState) io.ReadCloser {
	c := &settleBody{}
	if st != nil {
		c = &st.settle
	}
	c.ReadCloser, c.t, c.tr, c.b = body, t, tr, b
	if rw, ok := body.(io.ReadWriteCloser); ok {
		return &rwSettleBody{settleBody: c, w: rw}
	}
	return c
}

type settleBody struct {
	io.ReadCloser
	t    *poolTransport
	tr   *tryState
	b    *Backend
	once atomic.Bool
}

func (c *settleBody) Close() error {
	err := c.ReadCloser.Close()
	if !c.once.Swap(true) {
		c.b.inflight.Add(-1)
		c.t.settle(c.tr)
	}
	return err
}

type rwSettleBody struct {
	*settleBody
	w io.Writer
}

func (c *rwSettleBody) Write(p []byte) (int, error) { return c.w.Write(p) }
