package admin_test

import (
	"crypto/sha256"
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/admin"
)

// pageEnv is a status page over a real Manager on a memory store and a
// pool of one upstream, app1, answering to admin.example as well.
type pageEnv struct {
	*sessionsEnv
	host string // the server's host:port
}

func newPageEnv(t *testing.T) *pageEnv {
	t.Helper()
	e := newSessionsEnv(t)
	h, err := admin.New(admin.Options{Token: []byte(token), Pool: e.pool, Sessions: e.m,
		Hosts: []string{"Admin.Example"}, Logger: zerolog.New(e.logs)})
	require.NoError(t, err)
	e.h, e.srv = h, httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	u, err := url.Parse(e.srv.URL)
	require.NoError(t, err)
	return &pageEnv{sessionsEnv: e, host: u.Host}
}

// pageReq is one request to the page: the password ("" for no
// credentials), the Host (e.host when empty), Origin and Referer, and
// for a POST its form.
type pageReq struct {
	method, path     string
	password         string
	host             string
	origin, referer  string
	form             url.Values
	bearer, noOrigin bool
}

// send sends q without following redirects and returns the response with
// its body read. A POST carries Origin http://<Host> unless q says
// otherwise.
func (e *pageEnv) send(t *testing.T, q pageReq) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if q.form != nil {
		body = strings.NewReader(q.form.Encode())
	}
	req, err := http.NewRequest(q.method, e.srv.URL+q.path, body)
	require.NoError(t, err)
	req.Host = e.host
	if q.host != "" {
		req.Host = q.host
	}
	if q.form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	switch {
	case q.bearer:
		req.Header.Set("Authorization", "Bearer "+q.password)
	case q.password != "":
		req.SetBasicAuth("ops", q.password)
	}
	origin := q.origin
	if origin == "" && q.method == http.MethodPost && !q.noOrigin && q.referer == "" {
		origin = "http://" + req.Host
	}
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	if q.referer != "" {
		req.Header.Set("Referer", q.referer)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func (e *pageEnv) get(t *testing.T, path string) string {
	t.Helper()
	resp, body := e.send(t, pageReq{method: http.MethodGet, path: path, password: token})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	return body
}

func TestPageAuthentication(t *testing.T) {
	e := newPageEnv(t)
	resp, body := e.send(t, pageReq{method: http.MethodGet, path: "/"})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Equal(t, `Basic realm="Sidecar admin", charset="UTF-8"`, resp.Header.Get("WWW-Authenticate"), "a browser asks for the token")
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, body, "admin token as the password")
	assert.NotContains(t, body, "app1")

	resp, _ = e.send(t, pageReq{method: http.MethodGet, path: "/", password: token, bearer: true})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the page takes Basic, not Bearer")
	resp, _ = e.send(t, pageReq{method: http.MethodGet, path: "/", password: "not-the-token"})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, body = e.send(t, pageReq{method: http.MethodGet, path: "/upstreams", password: token})
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode, "the JSON API keeps Bearer")
	assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"), body)

	resp, body = e.send(t, pageReq{method: http.MethodGet, path: "/", password: token})
	require.Equal(t, http.StatusOK, resp.StatusCode, body)
	assert.Contains(t, body, "<title>Sidecar status</title>")
	assert.Contains(t, body, `<tr id="upstream-app1" class="st-up">`)
	assert.Regexp(t, `Live sessions: <strong id="live">0</strong>.\nStore latency: \d+\.\d\d ms`, body)

	logs := e.logs.String()
	assert.Equal(t, 3, strings.Count(logs, "authentication failed"),
		"a Bearer on the page, a wrong password and Basic on the API; not the request without credentials: %s", logs)
	assert.NotContains(t, logs, "not-the-token")
	assert.NotContains(t, logs, token)
}

func TestPageLockoutIsTheAPIs(t *testing.T) {
	e := newPageEnv(t)
	for range 10 { // httpauth.DefaultMaxFailures
		e.send(t, pageReq{method: http.MethodGet, path: "/", password: "wrong"})
	}
	resp, body := e.send(t, pageReq{method: http.MethodGet, path: "/", password: token})
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, body)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	resp, _ = e.do(t, http.MethodGet, "/upstreams", "Bearer "+token, nil)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "failures on the page lock the API out too")
}

// The page's headers: a policy that loads nothing and runs no script,
// whose one style hash is that of the page's inline sheet.
func TestPageHeaders(t *testing.T) {
	e := newPageEnv(t)
	resp, body := e.send(t, pageReq{method: http.MethodGet, path: "/", password: token})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	m := regexp.MustCompile(`(?s)<style>(.*)</style>`).FindStringSubmatch(body)
	require.NotNil(t, m, body)
	sum := sha256.Sum256([]byte(m[1]))
	assert.Equal(t, "default-src 'none'; style-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'; "+
		"form-action 'self'; frame-ancestors 'none'; base-uri 'none'", resp.Header.Get("Content-Security-Policy"))
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	assert.Equal(t, "DENY", resp.Header.Get("X-Frame-Options"))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
	assert.NotContains(t, body, "<script")
	assert.NotContains(t, body, "src=")
	assert.NotContains(t, body, "style=\"", "no inline style attribute: the policy would block it")
}

// A principal and a User-Agent are the client's: the page escapes them.
func TestPageEscapes(t *testing.T) {
	e := newPageEnv(t)
	const evil = `<script>alert("x")</script><img src=x onerror=alert(1)>'`
	e.login(t, evil, evil)
	body := e.get(t, "/?principal="+url.QueryEscape(evil))
	assert.NotContains(t, body, "<script>alert")
	assert.NotContains(t, body, "<img")
	assert.Contains(t, body, `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&#39;`)
	assert.Contains(t, body, `<code>&lt;script&gt;`, "the principal")
	assert.Contains(t, body, `<td class="ua">&lt;script&gt;`, "the user agent")
	assert.Contains(t, body, `name="principal" value="&lt;script&gt;`, "the search box")
}

func TestPageDrainUndrain(t *testing.T) {
	e := newPageEnv(t)
	assert.Contains(t, e.get(t, "/"), `<form id="drain-app1" method="post" action="/ui/upstreams/app1/drain">`)

	resp, body := e.send(t, pageReq{method: http.MethodPost, path: "/ui/upstreams/app1/drain", password: token})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	assert.Equal(t, "/?drained=app1", resp.Header.Get("Location"))
	assert.True(t, e.pool.States()[0].Draining)
	body = e.get(t, "/?drained=app1")
	assert.Contains(t, body, `<tr id="upstream-app1" class="st-draining">`)
	assert.Contains(t, body, `<form id="undrain-app1" method="post" action="/ui/upstreams/app1/undrain">`)
	assert.Contains(t, body, "Drained app1: it gets no new requests")

	resp, body = e.send(t, pageReq{method: http.MethodPost, path: "/ui/upstreams/app1/undrain", password: token})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	assert.False(t, e.pool.States()[0].Draining)
	assert.Contains(t, e.logs.String(), `"upstream":"app1","draining":false`)

	resp, body = e.send(t, pageReq{method: http.MethodPost, path: "/ui/upstreams/nope/drain", password: token})
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	assert.Contains(t, body, `unknown upstream: &#34;nope&#34;`)
	resp, _ = e.send(t, pageReq{method: http.MethodGet, path: "/ui/upstreams/app1/drain", password: token})
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, "a drain is a POST")
	assert.False(t, e.pool.States()[0].Draining)
}

func TestPageRevoke(t *testing.T) {
	e := newPageEnv(t)
	_, h1 := e.login(t, "ann@example.com", "phone")
	e.login(t, "ann@example.com", "laptop")
	e.login(t, "ann@example.com", "tablet")
	e.login(t, "bob", "bob's")

	body := e.get(t, "/?principal=ann%40example.com")
	assert.Contains(t, body, "<code>ann@example.com</code> has 3 live session(s).")
	assert.Contains(t, body, `<form id="revoke-`+h1+`" method="post" action="/ui/sessions/`+h1+`/revoke">`)
	assert.Contains(t, body, `<td>192.0.2.7</td><td class="ua">phone</td>`)
	assert.Contains(t, body, `<strong id="live">4</strong>`)

	resp, body := e.send(t, pageReq{method: http.MethodPost, path: "/ui/sessions/" + h1 + "/revoke", password: token,
		form: url.Values{"principal": {"ann@example.com"}}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	assert.Equal(t, "/?principal=ann%40example.com&revoked=1", resp.Header.Get("Location"))
	assert.Contains(t, e.get(t, resp.Header.Get("Location")), "has 2 live session(s).")

	resp, body = e.send(t, pageReq{method: http.MethodPost, path: "/ui/sessions/revoke", password: token,
		form: url.Values{"principal": {"ann@example.com"}}})
	require.Equal(t, http.StatusSeeOther, resp.StatusCode, body)
	assert.Equal(t, "/?principal=ann%40example.com&revoked=2", resp.Header.Get("Location"))
	body = e.get(t, resp.Header.Get("Location"))
	assert.Contains(t, body, "Revoked 2 session(s) of ann@example.com.")
	assert.Contains(t, body, "<code>ann@example.com</code> has no live session.")
	list, err := e.client.Sessions(t.Context(), "bob")
	require.NoError(t, err)
	assert.Equal(t, 1, list.Total, "bob's session is left")

	for _, form := range []url.Values{{}, {"principal": {""}}, {"principal": {"a", "b"}}} {
		resp, body = e.send(t, pageReq{method: http.MethodPost, path: "/ui/sessions/revoke", password: token, form: form})
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
	}
	resp, body = e.send(t, pageReq{method: http.MethodPost, path: "/ui/sessions/revoke?principal=bob", password: token, form: url.Values{}})
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "the principal comes from the form, not the URL: %s", body)
	resp, _ = e.send(t, pageReq{method: http.MethodPost, path: "/ui/sessions/" + h1 + "/revoke", password: token, form: url.Values{}})
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "revoked already")
}

// Cross-site form posts (CSRF) are refused: the Origin, or the Referer
// without one, must be the page's own.
func TestPageChecksOrigin(t *testing.T) {
	e := newPageEnv(t)
	drain := pageReq{method: http.MethodPost, path: "/ui/upstreams/app1/drain", password: token}
	for name, q := range map[string]func(pageReq) pageReq{
		"OtherSite":      func(q pageReq) pageReq { q.origin = "http://evil.example"; return q },
		"OtherPort":      func(q pageReq) pageReq { q.origin = "http://127.0.0.1:1"; return q },
		"Null":           func(q pageReq) pageReq { q.origin = "null"; return q },
		"OtherScheme":    func(q pageReq) pageReq { q.origin = "ftp://" + e.host; return q },
		"Neither":        func(q pageReq) pageReq { q.noOrigin = true; return q },
		"OtherReferer":   func(q pageReq) pageReq { q.referer = "http://evil.example/page"; return q },
		"OriginWinsOver": func(q pageReq) pageReq { q.origin, q.referer = "http://evil.example", "http://"+e.host+"/"; return q },
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := e.send(t, q(drain))
			assert.Equal(t, http.StatusForbidden, resp.StatusCode, body)
			assert.Regexp(t, `403 Forbidden: .*(Origin|Referer)`, body)
			assert.False(t, e.pool.States()[0].Draining)
		})
	}
	q := drain
	q.referer = "http://" + e.host + "/?principal=x"
	resp, body := e.send(t, q)
	assert.Equal(t, http.StatusSeeOther, resp.StatusCode, "a same-origin Referer without Origin: %s", body)
	assert.Contains(t, e.logs.String(), `"reason":"the request's Origin is not this page's origin`)
}

// A Host that DNS rebinding could produce is refused before the
// credentials are looked at; IP addresses, localhost and Options.Hosts
// are served, on any port.
func TestPageChecksHost(t *testing.T) {
	e := newPageEnv(t)
	for _, host := range []string{"evil.example", "evil.example:" + strings.Split(e.host, ":")[1], "localhost.evil.example", "127.0.0.1.nip.io"} {
		t.Run("Refuses "+host, func(t *testing.T) {
			for _, q := range []pageReq{
				{method: http.MethodGet, path: "/", password: token, host: host},
				{method: http.MethodPost, path: "/ui/upstreams/app1/drain", password: token, host: host},
			} {
				resp, body := e.send(t, q)
				assert.Equal(t, http.StatusForbidden, resp.StatusCode, body)
			}
			assert.False(t, e.pool.States()[0].Draining)
		})
	}
	for range 20 {
		resp, _ := e.send(t, pageReq{method: http.MethodGet, path: "/", password: "guess", host: "evil.example"})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
	}
	for _, host := range []string{"localhost:8000", "LOCALHOST", "127.0.0.1:1", "[::1]:9090", "[::1]", "192.0.2.1", "admin.example:443", "ADMIN.example"} {
		resp, body := e.send(t, pageReq{method: http.MethodGet, path: "/", password: token, host: host})
		assert.Equal(t, http.StatusOK, resp.StatusCode, "Host %q: %s", host, body)
	}
	assert.Contains(t, e.logs.String(), `"reason":"Host not allowed"`)
	assert.NotContains(t, e.logs.String(), "authentication failed", "a refused Host never reached the guard")
}

func TestPageStoreDown(t *testing.T) {
	e := newPageEnv(t)
	e.store.down.Store(true)
	body := e.get(t, "/?principal=ann")
	assert.Contains(t, body, `<p class="error" id="store">Session store: the session store is unavailable (after `)
	assert.Contains(t, body, `<p class="error">the session store is unavailable</p>`)
	assert.Contains(t, body, `id="upstream-app1"`, "the upstreams still show")
	assert.NotContains(t, body, "connection refused", "the store's own error stays in the log")

	resp, body := e.send(t, pageReq{method: http.MethodPost, path: "/ui/sessions/revoke", password: token,
		form: url.Values{"principal": {"ann"}}})
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, body)
	assert.Equal(t, "1", resp.Header.Get("Retry-After"))
	assert.Contains(t, body, "503 Service Unavailable: the session store is unavailable")
}

func TestPageWithoutSessions(t *testing.T) {
	e := &pageEnv{sessionsEnv: &sessionsEnv{env: *newEnv(t)}}
	u, err := url.Parse(e.srv.URL)
	require.NoError(t, err)
	e.host = u.Host
	body := e.get(t, "/?principal=ann")
	assert.Contains(t, body, "This admin API serves no sessions.")
	assert.Contains(t, body, `id="upstream-app2"`)
	resp, _ := e.send(t, pageReq{method: http.MethodPost, path: "/ui/sessions/revoke", password: token, form: url.Values{"principal": {"ann"}}})
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}
