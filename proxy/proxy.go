// Package proxy is Sidecar's HTTP side: an httputil.ReverseProxy whose
// Rewrite hands the app its session as a signed header and whose
// ModifyResponse saves what the app sends back.
//
// For every request the Proxy
//  1. deletes client headers whose name, lower-cased with '_' read as '-',
//     starts with the header prefix (so x_sidecar_session is stripped too);
//  2. loads the session named by the cookie (503 + Retry-After when the
//     store is unavailable; a bad cookie is simply no session);
//  3. sends the request to the next upstream (round robin) with exactly one
//     X-Sidecar-Session JWT, an X-Request-Id (a trusted proxy's when valid,
//     else a new one; see requestid.go), X-Forwarded-* and Forwarded
//     describing the real client (believing only trusted proxies, see
//     TrustedProxies.Derive), and without Sidecar's cookie;
//  4. takes the patch, action and principal headers off the response,
//     commits them (502 when they break the protocol, leaving the session
//     untouched), sets or expires the cookie and echoes X-Request-Id;
//  5. writes one access-log line (JSON, combined log format or none; see
//     AccessLog).
//
// Errors become statuses in one function (classify): 502 for an unreachable
// app or a bad app response, 503 for the store, 504 for an app too slow to
// answer, 409 for a write refused because the session changed under it (a
// lost version guard, or a cookie a regenerate moved away:
// sessions.ErrReplaced), 499 (logged only) when the client went away. A
// refused write withholds the app's response, Set-Cookie included. A
// request refused for what the client sent gets 431, 413, 408 or 400, and
// one whose body finds no room to be buffered 503 (see Limits).
package proxy

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Options configure a Proxy. Required fields say so; the zero value of
// every other field is its stated default.
type Options struct {
	// Pool chooses the upstream for each request and tracks health. When
	// nil, New builds one over Upstreams with default settings and Close
	// stops it.
	Pool *Pool
	// Upstreams are the app servers for the pool New builds when Pool is
	// nil.
	Upstreams []Upstream
	// Manager loads and commits sessions. Required.
	Manager *sessions.Manager
	// Header signs the X-Sidecar-Session JWT. Required. It and the
	// Manager's Signer are the first Keys; SetKeys rotates them.
	Header *sessions.HeaderSigner
	// Prefix is the header prefix Sidecar owns; "" means DefaultPrefix
	// ("X-Sidecar-").
	Prefix string
	// AllowUnderscores keeps client request headers with '_' in their
	// names. By default they are dropped, as nginx does: an app behind
	// CGI, PHP-FPM or WSGI reads X_Forwarded_For as X-Forwarded-For.
	// Spellings of the headers Sidecar sets (X-Forwarded-*, Forwarded,
	// X-Request-Id, its prefix) other than the canonical one are dropped
	// either way.
	AllowUnderscores bool
	// Upgrades lists the protocols a client may switch to (the Upgrade
	// header, case-insensitive); nil means DefaultUpgrade (websocket).
	// Any other Upgrade is stripped and the request forwarded as plain
	// HTTP; h2c never passes, even when listed: inside its tunnel requests
	// would reach the app without Sidecar's header hygiene and their
	// responses would pass without the session handling. A tunnel is
	// opaque after the handshake.
	Upgrades []string
	// TrustedProxies are the peers whose X-Forwarded-For, -Proto and
	// -Host Sidecar believes (see [TrustedProxies.Derive]): their chain is
	// appended to, and a trusted X-Forwarded-Proto: https makes the cookie
	// Secure. Their X-Request-Id, when it is 1 to MaxRequestIDLen
	// characters of [A-Za-z0-9._:-], becomes the request's id. nil, the
	// default, trusts nobody: every client's forwarding headers are
	// replaced with its own connection's address and scheme.
	TrustedProxies TrustedProxies
	// Limits bound request heads and bodies, and the memory and disk
	// that bodies waiting for an upstream may hold.
	Limits Limits
	// Cookie describes the session cookie.
	Cookie CookieOptions
	// Locking serialises each session's requests; off without a Locker.
	Locking Locking
	// Transport carries each try to an app; nil means
	// NewTransport(TransportOptions{}).
	Transport http.RoundTripper
	// RetryAfter is sent with 503 when the store is unavailable, rounded up
	// to whole seconds; 0 means DefaultRetryAfter (2s).
	RetryAfter time.Duration
	// ErrorPages are the bodies of Sidecar's own 502, 503 and 504
	// responses (see LoadErrorPages and SetErrorPages); nil means the
	// built-in pages.
	ErrorPages *ErrorPages
	// Logger receives the access log (in AccessJSON) and errors; the zero
	// Logger discards.
	Logger zerolog.Logger
	// AccessLog chooses the access log's format and, for the combined
	// format, where its lines go; the zero value logs JSON to Logger.
	AccessLog AccessLog
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Observer is told of every request, for metrics; nil observes
	// nothing.
	Observer Observer
}

// Proxy is the session-aware reverse proxy. It is an http.Handler.
type Proxy struct {
	rp         *httputil.ReverseProxy
	pool       *Pool
	ownPool    bool
	manager    *sessions.Manager
	keys       atomic.Pointer[Keys] // keys.go; a request loads it once
	pages      atomic.Pointer[ErrorPages]
	names      names
	underscore bool     // Options.AllowUnderscores
	upgrades   []string // Options.Upgrades, lower case, h2c left out
	trusted    TrustedProxies
	cookie     CookieOptions
	locking    Locking
	limits     Limits       // Options.Limits with defaults
	buffers    *bodyBuffers // the budgets of Limits.Buffer
	retryAfter string
	log        zerolog.Logger
	scrub      func(http.Header) // scrubResponseHeader, made once
	access     accessWriter
	clock      func() time.Time
	observer   Observer

	omitted omitLog // headerbudget.go
}

var _ http.Handler = (*Proxy)(nil)

// New returns a Proxy, or an error naming the missing option.
func New(o Options) (*Proxy, error) {
	switch {
	case o.Manager == nil:
		return nil, errors.New("proxy: Options.Manager is required")
	case o.Header == nil:
		return nil, errors.New("proxy: Options.Header is required")
	}
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.Transport == nil {
		o.Transport = NewTransport(TransportOptions{})
	}
	locking, err := o.Locking.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := o.AccessLog.validate(); err != nil {
		return nil, err
	}
	pool, ownPool := o.Pool, false
	if pool == nil {
		var err error
		if pool, err = NewPool(PoolOptions{Upstreams: o.Upstreams}, o.Transport, o.Logger); err != nil {
			return nil, err
		}
		ownPool = true
	}
	if o.RetryAfter <= 0 {
		o.RetryAfter = DefaultRetryAfter
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	limits := o.Limits.withDefaults()
	p := &Proxy{
		limits:     limits,
		buffers:    newBodyBuffers(limits.Buffer),
		manager:    o.Manager,
		names:      newNames(o.Prefix),
		underscore: o.AllowUnderscores,
		upgrades:   allowedUpgrades(o.Upgrades),
		trusted:    o.TrustedProxies,
		cookie:     o.Cookie.withDefaults(),
		locking:    locking,
		pool:       pool,
		ownPool:    ownPool,
		retryAfter: strconv.Itoa(int((o.RetryAfter + time.Second - 1) / time.Second)),
		log:        o.Logger,
		access:     newAccessWriter(o.AccessLog),
		clock:      o.Clock,
		observer:   o.Observer,
	}
	p.scrub = p.scrubResponseHeader
	p.keys.Store(&Keys{Cookie: o.Manager.Signer(), Header: o.Header})
	p.SetErrorPages(o.ErrorPages)
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		Transport:      &poolTransport{pool: pool, next: o.Transport, maxHeader: responseHeaderLimit(o.Transport)},
		BufferPool:     newBufferPool(),
		ErrorLog:       log.New(stdLogBridge{o.Logger}, "", 0),
	}
	return p, nil
}

// reqState is what one request carries through the ReverseProxy hooks. It
// is the context of the request the ReverseProxy gets: the client
// request's, with itself under stateKey.
type reqState struct {
	context.Context // the client request's

	keys      *Keys // the secrets of this request, from start to end
	sw        statusWriter
	start     time.Time
	took      time.Duration // see duration
	id        string
	sess      *sessions.Session
	jwt       string
	upstream  string
	attempts  int
	spoofed   int
	fwd       Forwarded // who the client is; fwd.Proto decides Secure
	lockWait  time.Duration
	lockState string // "", held, lost, timeout, timeout_proceeded, unavailable
	unlock    func()
	failed    bool
	errKind   errorKind
	err       error

	dataOmitted bool // the session header left the data out (headers.max_bytes)
	idReplaced  bool // a trusted proxy's X-Request-Id was not valid

	body   *replayBody  // the request body, read before anything else (body.go)
	noBody replayBody   // requestBody's answer without one
	bodyIn *bodyCounter // counts what the client sent of it
	guard  *uploadGuard // its read deadlines, or nil

	// For the Observer (observer.go).
	expired       bool      // the cookie verified, its session was not found
	upstreamStart time.Time // when the request went to the pool; zero without an Observer
	upstreamTime  time.Duration

	// Room for what a request would otherwise allocate piecemeal.
	chain  [1]netip.Addr // fwd.Chain of an untrusted peer
	values [7]string     // header values: Forwarded's 4, the session's, X-Request-Id twice
	settle settleBody    // the response body's settling wrapper (attempt.go)

	scrub   func(http.Header)            // Proxy.scrub
	attempt atomic.Pointer[attemptTrace] // the try under way (retry.go)
	trailer trailerScrub                 // the response body's wrapper (modifyResponse)
}

// Value is the state under stateKey, else the client request context's
// value.
func (st *reqState) Value(key any) any {
	if key == (stateKey{}) {
		return st
	}
	return st.Context.Value(key)
}

// interim scrubs the header of an interim (1xx) response that the
// ReverseProxy forwards (it does so before ModifyResponse runs), and tells
// the try under way.
func (st *reqState) interim(h http.Header) {
	st.scrub(h)
	if a := st.attempt.Load(); a != nil {
		a.interim()
	}
}

// requestBody is the body ServeHTTP read (a zero replayBody when the
// request has none), or nil outside a Proxy.
func (st *reqState) requestBody() *replayBody {
	switch {
	case st == nil:
		return nil
	case st.body == nil:
		return &st.noBody
	}
	return st.body
}

// duration is the time from start to the first call, when the request
// is over: the Observer and the access log report the same figure, read
// from the clock once.
func (st *reqState) duration() time.Duration {
	if st.took == 0 {
		st.took = time.Since(st.start)
	}
	return st.took
}

func (st *reqState) outcome() string {
	if st.sess == nil {
		return sessions.OutcomeNone.String()
	}
	return st.sess.Outcome().String()
}

func (st *reqState) storeTime() time.Duration {
	if st.sess == nil {
		return 0
	}
	return st.sess.StoreTime()
}

// secure reports whether the client used https: a TLS connection, or a
// trusted proxy's X-Forwarded-Proto. Under cookie_secure auto it decides
// the cookie's Secure attribute.
func (st *reqState) secure() bool { return st.fwd.Proto == "https" }

func (st *reqState) badCookie() bool { return st.sess != nil && st.sess.BadCookie() }

type stateKey struct{}

func stateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

// ServeHTTP proxies one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &reqState{Context: r.Context(), keys: p.keys.Load(), start: p.clock(), scrub: p.scrub}
	st.sw.ResponseWriter, st.sw.st = w, st
	defer p.logAccess(r, st)
	defer st.releaseBody() // on every path, panics included
	defer p.observe(st)

	if err := p.limits.checkRequest(r); err != nil {
		p.writeError(&st.sw, r, st, err)
		return
	}
	if err := p.readBody(w, r, st); err != nil {
		p.writeError(&st.sw, r, st, err)
		return
	}
	st.spoofed = p.names.stripPrefixed(r.Header) + stripEdge(r.Header, p.underscore)
	if len(r.Trailer) > 0 {
		st.spoofed += p.names.stripPrefixed(r.Trailer) + stripEdge(r.Trailer, p.underscore)
	}
	// After stripEdge: only canonical spellings are read, even from a
	// trusted proxy.
	st.fwd = p.trusted.derive(r, st.chain[:0])
	st.id, st.idReplaced = requestID(r, st.fwd)

	sess := p.manager.IdentifyWith(st.keys.Cookie, p.cookieValue(r, st.keys.Cookie))
	sess.SetClient(st.fwd.Client, r.UserAgent()) // kept if the request creates a session
	st.sess = sess
	if err := p.lockSession(r, st); err != nil {
		p.writeError(&st.sw, r, st, err)
		return
	}
	defer st.releaseLock()
	if err := p.manager.Fetch(r.Context(), sess); err != nil {
		p.writeError(&st.sw, r, st, err)
		return
	}
	st.expired = sess.Verified() && sess.Record() == nil && !sess.Replaced()
	if err := p.signHeader(st); err != nil {
		p.writeError(&st.sw, r, st, err)
		return
	}
	p.rp.ServeHTTP(&st.sw, r.WithContext(st))
}

func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	st := stateFrom(pr.In.Context())
	// The pool transport sets scheme and host for each try.
	pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "upstream.invalid"
	pr.Out.Host = pr.In.Host // apps build absolute URLs from the client's Host
	st.fwd.setHeaders(pr.Out.Header, st.values[:4:4])
	if up := pr.Out.Header.Get("Upgrade"); up != "" && !slices.Contains(p.upgrades, strings.ToLower(up)) {
		// The ReverseProxy put Upgrade and Connection back for the
		// tunnel: without them the request is plain HTTP, and an app
		// that switches anyway gets a 502 from the ReverseProxy.
		pr.Out.Header.Del("Upgrade")
		pr.Out.Header.Del("Connection")
	}
	if !p.cookie.KeepUpstream {
		stripCookie(pr.Out.Header, p.cookie.Name)
	}
	if st.body.readAhead() {
		// The app has nothing to approve: net/http sent the client its
		// 100 Continue when Sidecar began reading the body.
		pr.Out.Header.Del("Expect")
		if st.body.buffered() && len(pr.Out.Trailer) == 0 { // trailers need chunked
			pr.Out.TransferEncoding = nil // the whole body, with a Content-Length
		}
	}
	st.values[4], st.values[5] = st.jwt, st.id
	pr.Out.Header[p.names.session] = st.values[4:5:5]
	pr.Out.Header["X-Request-Id"] = st.values[5:6:6]
	if p.observer != nil {
		st.upstreamStarted()
	}
}

func (p *Proxy) modifyResponse(resp *http.Response) error {
	st := stateFrom(resp.Request.Context())
	st.upstreamDone()
	st.values[6] = st.id
	resp.Header["X-Request-Id"] = st.values[6:7:7] // the client sees the id the log has
	d := p.names.takeDirectives(resp.Header)
	dropSetCookie(resp.Header, p.cookie.Name)
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The ReverseProxy writes the 101 on the hijacked connection, not
		// through the ResponseWriter: record it for the access log here.
		st.sw.status = http.StatusSwitchingProtocols
	} else {
		// Trailers arrive after the body and are copied to the client
		// once it is read: directives there would be unsigned leaks.
		p.scrubResponseHeader(resp.Trailer)
		st.trailer = trailerScrub{ReadCloser: resp.Body, resp: resp, scrub: p.scrub}
		resp.Body = &st.trailer
	}
	act, err := sessions.ParseAction(d.actions)
	if err != nil {
		return err
	}
	principal, err := sessions.ParsePrincipal(d.principals)
	if err != nil {
		return err
	}
	ch := sessions.Change{Patches: d.patches, Action: act, Principal: principal}
	err = p.manager.Commit(resp.Request.Context(), st.sess, &ch)
	st.releaseLock() // the write is persisted (or refused): the next request may go
	if err != nil {
		return err
	}
	switch st.sess.CookieOp() {
	case sessions.CookieSet:
		rec := st.sess.Record()
		resp.Header.Add("Set-Cookie", p.cookie.set(st.keys.Cookie.Sign(st.sess.Token()), st.secure(), rec.AbsExp, p.clock()))
	case sessions.CookieExpire:
		resp.Header.Add("Set-Cookie", p.cookie.expire(st.secure()))
	}
	return nil
}

// scrubResponseHeader removes everything under the prefix and any
// Set-Cookie for Sidecar's cookie from a header map the app produced.
func (p *Proxy) scrubResponseHeader(h http.Header) {
	if len(h) == 0 {
		return
	}
	p.names.stripPrefixed(h)
	dropSetCookie(h, p.cookie.Name)
}

// trailerScrub cleans the response trailers once the body is drained,
// before the ReverseProxy copies them to the client.
type trailerScrub struct {
	io.ReadCloser
	resp  *http.Response
	scrub func(http.Header)
}

func (t *trailerScrub) Read(b []byte) (int, error) {
	n, err := t.ReadCloser.Read(b)
	if err == io.EOF {
		t.scrub(t.resp.Trailer)
	}
	return n, err
}

// Pool is the upstream pool the proxy uses.
func (p *Proxy) Pool() *Pool { return p.pool }

// BufferStats reports the memory and temporary files that request bodies
// hold now.
func (p *Proxy) BufferStats() BufferStats { return p.buffers.stats() }

// Close stops the pool's goroutines when New built the pool.
func (p *Proxy) Close() error {
	if p.ownPool {
		return p.pool.Close()
	}
	return nil
}

func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	st := stateFrom(r.Context())
	st.upstreamDone()
	p.writeError(w, r, st, err)
}

// stdLogBridge sends the ReverseProxy's own log lines (body copy errors)
// to the structured log.
type stdLogBridge struct{ log zerolog.Logger }

func (b stdLogBridge) Write(p []byte) (int, error) {
	b.log.Warn().Str("log", "reverseproxy").Msg(strings.TrimSpace(string(p)))
	return len(p), nil
}

// allowedUpgrades is Options.Upgrades as rewrite checks it: lower case,
// DefaultUpgrade when nil, never h2c.
func allowedUpgrades(list []string) []string {
	if list == nil {
		list = []string{DefaultUpgrade}
	}
	var out []string
	for _, u := range list {
		if u = strings.ToLower(strings.TrimSpace(u)); u != "" && u != "h2c" {
			out = append(out, u)
		}
	}
	return out
}
