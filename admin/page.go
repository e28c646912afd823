package admin

import (
	"bytes"
	"crypto/sha256"
	_ "embed" // the page's template and style sheet
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sidecarproxy/sidecar/internal/ratelog"
	"github.com/sidecarproxy/sidecar/proxy"
)

// The status page: server-rendered HTML at GET / for people, in the
// manner of HAProxy's stats page, with forms that POST to /ui/... to
// drain and undrain upstreams and revoke sessions. docs/admin.md ("The
// status page") describes it.
//
// It authenticates with HTTP Basic (any user name, the admin token as
// the password; httpauth.Guard.CheckBasic, which shares the API's lockout)
// and refuses a Host that DNS rebinding could have produced
// (hostAllowed) and a state-changing request from another origin
// (sameOrigin). Its Content-Security-Policy loads nothing and runs no
// script: the only style is the inline sheet, allowed by its hash.

var (
	//go:embed page.html
	pageHTML string
	//go:embed page.css
	pageCSS string
)

// pageRealm is the realm of the page's Basic authentication: what the
// browser's password prompt shows.
const pageRealm = "Sidecar admin"

// page serves the status page for its Handler.
type page struct {
	h     *Handler
	tmpl  *template.Template
	csp   string          // the Content-Security-Policy of every answer
	hosts map[string]bool // Options.Hosts, lower case
	mux   *http.ServeMux
	// refusals bounds the log lines of Host and Origin refusals.
	refusals *ratelog.Limiter
}

// isPagePath reports whether path belongs to the status page rather than
// the JSON API.
func isPagePath(path string) bool { return path == "/" || strings.HasPrefix(path, "/ui/") }

// newPage returns the status page of h; hosts are Options.Hosts.
func newPage(h *Handler, hosts []string) (*page, error) {
	tmpl, err := template.New("page").Funcs(template.FuncMap{"when": when, "ms": ms}).Parse(pageHTML)
	if err != nil {
		return nil, fmt.Errorf("admin: the status page's template: %w", err)
	}
	sum := sha256.Sum256([]byte(pageCSS))
	p := &page{
		h:    h,
		tmpl: tmpl,
		csp: "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		hosts: make(map[string]bool, len(hosts)),
		mux:   http.NewServeMux(),
		refusals: ratelog.New(ratelog.Options{Report: func(n int) {
			h.log.Warn().Int("suppressed", n).Msg("status page: more refused requests not logged")
		}}),
	}
	for _, name := range hosts {
		if name != "" {
			p.hosts[strings.ToLower(name)] = true
		}
	}
	p.mux.HandleFunc("GET /{$}", p.render)
	p.mux.HandleFunc("POST /ui/upstreams/{name}/drain", p.drain(true))
	p.mux.HandleFunc("POST /ui/upstreams/{name}/undrain", p.drain(false))
	if h.sessions != nil {
		p.mux.HandleFunc("POST /ui/sessions/revoke", p.revokeAll)
		p.mux.HandleFunc("POST /ui/sessions/{handle}/revoke", p.revokeOne)
	}
	return p, nil
}

// ServeHTTP checks the Host, the credentials and, for a POST, the origin,
// then routes the request. An unknown /ui/ path gets ServeMux's plain-text
// 404 or 405.
func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", p.csp)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "same-origin")
	if !p.hostAllowed(r.Host) {
		p.refuse(r, "Host not allowed")
		p.fail(w, http.StatusForbidden, "this page answers only to an IP address, localhost or a name in admin.hosts (not to "+strconv.Quote(r.Host)+")")
		return
	}
	switch p.h.guard.CheckBasic(w, r, pageRealm) {
	case 0:
	case http.StatusTooManyRequests:
		p.fail(w, http.StatusTooManyRequests, "too many failed attempts from your address: try again later")
		return
	default:
		p.fail(w, http.StatusUnauthorized, "sign in with any user name and the admin token as the password")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := sameOrigin(r); err != nil {
			p.refuse(r, err.Error())
			p.fail(w, http.StatusForbidden, err.Error())
			return
		}
	}
	if r.ContentLength > MaxBodyBytes {
		p.fail(w, http.StatusRequestEntityTooLarge, "request body too large")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
	p.mux.ServeHTTP(w, r)
}

// refuse logs a request refused for its Host or origin (rate-limited: a
// page under DNS rebinding may send many), with the client's address.
func (p *page) refuse(r *http.Request, why string) {
	if p.refusals.Allow() {
		p.h.log.Warn().Str("remote_addr", r.RemoteAddr).Str("method", r.Method).Str("reason", why).
			Msg("status page: request refused")
	}
}

// pageData is what the page template shows.
type pageData struct {
	CSS       template.CSS
	Now       time.Time
	Notice    string
	Upstreams []proxy.State

	HasSessions bool          // the handler serves sessions
	Count       SessionCount  // the live sessions, unless CountErr
	CountErr    string        // why they could not be counted
	StoreTime   time.Duration // how long the count took

	Searched  bool   // a principal was asked for
	Principal string // the one asked for, when valid
	List      *SessionList
	ListErr   string
}

// render answers GET /: the page, with ?principal=P's sessions listed and
// a notice of what a form just did (set by the redirect after it). A
// store failure shows on the page, which still answers 200.
func (p *page) render(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := pageData{CSS: template.CSS(pageCSS), Now: time.Now().UTC(), Upstreams: p.h.pool.States(),
		HasSessions: p.h.sessions != nil, Notice: notice(q)}
	if d.HasSessions {
		start := time.Now()
		c, err := p.h.sessions.Count(r.Context())
		d.StoreTime = time.Since(start)
		if err != nil {
			p.h.storeFailed(r, "counting sessions", err)
			_, d.CountErr = classify(err)
		}
		d.Count = SessionCount{Live: c.Live, Approximate: c.Approximate}
		if _, d.Searched = q["principal"]; d.Searched {
			d.Principal, err = principalParam(r)
			if err == nil {
				var list SessionList
				if list, err = p.h.list(r, d.Principal); err == nil {
					d.List = &list
				}
			}
			if err != nil {
				_, d.ListErr = classify(err)
			}
		}
	}
	p.write(w, http.StatusOK, "page", d)
}

// notice is the line the page shows after a form's redirect, from the
// query the redirect set (a link can set it too: it only ever says what
// its own parameters say, escaped).
func notice(q map[string][]string) string {
	get := func(k string) string {
		if v := q[k]; len(v) == 1 {
			return v[0]
		}
		return ""
	}
	switch n, err := strconv.Atoi(get("revoked")); {
	case err == nil && n >= 0 && get("principal") != "":
		return fmt.Sprintf("Revoked %d session(s) of %s.", n, get("principal"))
	case err == nil && n >= 0:
		return fmt.Sprintf("Revoked %d session(s).", n)
	case get("drained") != "":
		return "Drained " + get("drained") + ": it gets no new requests; the ones it has finish."
	case get("undrained") != "":
		return "Undrained " + get("undrained") + ": it gets requests again while it is healthy."
	}
	return ""
}

// errorData is what the error template shows.
type errorData struct {
	CSS     template.CSS
	Status  string
	Message string
}

// fail answers status with an HTML page saying msg.
func (p *page) fail(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	p.write(w, status, "error", errorData{CSS: template.CSS(pageCSS),
		Status: strconv.Itoa(status) + " " + http.StatusText(status), Message: msg})
}

// write renders the template name with d and answers it with status.
func (p *page) write(w http.ResponseWriter, status int, name string, d any) {
	var b bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&b, name, d); err != nil {
		p.h.log.Error().Err(err).Msg("status page: rendering failed")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// when formats a time for the page: UTC to the second, "" for the zero
// time (unknown).
func when(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05Z")
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond)) }
