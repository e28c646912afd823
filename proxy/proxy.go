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
//     X-Sidecar-Session JWT, an X-Request-Id, X-Forwarded-* and Forwarded
//     describing the real client (believing only trusted proxies, see
//     TrustedProxies.Derive), and without Sidecar's cookie;
//  4. takes the patch, action and principal headers off the response,
//     commits them (502 when they break the protocol, leaving the session
//     untouched) and sets or expires the cookie;
//  5. writes one access-log line.
//
// Errors become statuses in one function (classify): 502 for an unreachable
// app or a bad app response, 503 for the store, 504 for an app too slow to
// answer, 409 for a write refused because the session changed under it (a
// lost version guard, or a cookie a regenerate moved away:
// sessions.ErrReplaced), 499 (logged only) when the client went away. A
// refused write withholds the app's response, Set-Cookie included.
package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"strings"
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
	// Header signs the X-Sidecar-Session JWT. Required.
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
	// Secure. nil, the default, trusts nobody: every client's forwarding
	// headers are replaced with its own connection's address and scheme.
	TrustedProxies TrustedProxies
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
	// Logger receives the access log and errors; the zero Logger discards.
	Logger zerolog.Logger
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// Proxy is the session-aware reverse proxy. It is an http.Handler.
type Proxy struct {
	rp         *httputil.ReverseProxy
	pool       *Pool
	ownPool    bool
	manager    *sessions.Manager
	header     *sessions.HeaderSigner
	names      names
	underscore bool     // Options.AllowUnderscores
	upgrades   []string // Options.Upgrades, lower case, h2c left out
	trusted    TrustedProxies
	cookie     CookieOptions
	locking    Locking
	retryAfter string
	log        zerolog.Logger
	clock      func() time.Time

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
	p := &Proxy{
		manager:    o.Manager,
		header:     o.Header,
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
		clock:      o.Clock,
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		Transport: &poolTransport{pool: pool, next: o.Transport, scrub: p.scrubResponseHeader,
			maxHeader: responseHeaderLimit(o.Transport)},
		BufferPool: newBufferPool(),
		ErrorLog:   log.New(stdLogBridge{o.Logger}, "", 0),
	}
	return p, nil
}

// reqState is what one request carries through the ReverseProxy hooks.
type reqState struct {
	sw        statusWriter
	start     time.Time
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

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// ServeHTTP proxies one request.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := &reqState{start: p.clock(), id: newRequestID()}
	st.sw.ResponseWriter = w
	defer p.logAccess(r, st)

	st.spoofed = p.names.stripPrefixed(r.Header) + stripEdge(r.Header, p.underscore)
	if len(r.Trailer) > 0 {
		st.spoofed += p.names.stripPrefixed(r.Trailer) + stripEdge(r.Trailer, p.underscore)
	}
	// After stripEdge: only canonical spellings are read, even from a
	// trusted proxy.
	st.fwd = p.trusted.Derive(r)

	sess := p.manager.Identify(p.cookieValue(r))
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
	if err := p.signHeader(st); err != nil {
		p.writeError(&st.sw, r, st, err)
		return
	}
	p.rp.ServeHTTP(&st.sw, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
}

// cookieValue returns the first of the request's Sidecar cookies that
// verifies, or the first one when none does (the Manager then treats it as
// a bad cookie), or "".
func (p *Proxy) cookieValue(r *http.Request) string {
	cs := r.CookiesNamed(p.cookie.Name)
	switch len(cs) {
	case 0:
		return ""
	case 1:
		return cs[0].Value
	}
	for _, c := range cs {
		if _, _, err := p.manager.Signer().Verify(c.Value); err == nil {
			return c.Value
		}
	}
	return cs[0].Value
}

func (p *Proxy) rewrite(pr *httputil.ProxyRequest) {
	st := stateFrom(pr.In.Context())
	// The pool transport sets scheme and host for each try.
	pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "upstream.invalid"
	pr.Out.Host = pr.In.Host // apps build absolute URLs from the client's Host
	st.fwd.SetHeaders(pr.Out.Header)
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
	pr.Out.Header[p.names.session] = []string{st.jwt}
	pr.Out.Header["X-Request-Id"] = []string{st.id}
}

func (p *Proxy) modifyResponse(resp *http.Response) error {
	st := stateFrom(resp.Request.Context())
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
		resp.Body = &trailerScrub{ReadCloser: resp.Body, resp: resp, scrub: p.scrubResponseHeader}
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
		resp.Header.Add("Set-Cookie", p.cookie.set(p.manager.Signer().Sign(st.sess.Token()), st.secure(), rec.AbsExp, p.clock()))
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

// Close stops the pool's goroutines when New built the pool.
func (p *Proxy) Close() error {
	if p.ownPool {
		return p.pool.Close()
	}
	return nil
}

func (p *Proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	st := stateFrom(r.Context())
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
