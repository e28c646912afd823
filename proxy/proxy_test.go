package proxy_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

const (
	cookieSecret = "cookie-secret-0123456789abcdefghijklmnop"
	headerSecret = "header-secret-0123456789abcdefghijklmnop"
	// waitTimeout bounds every wait for a condition in these tests: it
	// only matters when the condition never comes, so it is generous for
	// a busy machine running the race detector.
	waitTimeout = 15 * time.Second
)

// seen is what the app received on one request.
type seen struct {
	header http.Header
	claims *sessions.Claims
	host   string
}

// outageStore turns a real store into one that is down, by wrapping it.
type outageStore struct {
	sessions.Store
	down atomic.Bool
}

func (s *outageStore) Load(ctx context.Context, k string, t *sessions.Touch) (*sessions.Record, error) {
	if s.down.Load() {
		return nil, errors.New("dial tcp: connection refused")
	}
	return s.Store.Load(ctx, k, t)
}

func (s *outageStore) Apply(ctx context.Context, k string, d *sessions.Delta) (int64, error) {
	if s.down.Load() {
		return 0, errors.New("dial tcp: connection refused")
	}
	return s.Store.Apply(ctx, k, d)
}

type env struct {
	t       *testing.T
	proxy   *proxy.Proxy
	srv     *httptest.Server
	hdr     *sessions.HeaderSigner
	store   *outageStore
	logs    *logtest.Buffer
	mu      sync.Mutex
	last    seen
	respond func(w http.ResponseWriter, r *http.Request)
}

func newEnv(t *testing.T, mod func(*proxy.Options)) *env {
	t.Helper()
	e := &env{t: t, logs: &logtest.Buffer{}}
	hdr, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte(headerSecret)})
	require.NoError(t, err)
	e.hdr = hdr
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := hdr.ParseHeader(r.Header.Get("X-Sidecar-Session"))
		if err != nil {
			http.Error(w, "bad session header: "+err.Error(), http.StatusUnauthorized)
			return
		}
		e.mu.Lock()
		e.last = seen{header: r.Header.Clone(), claims: claims, host: r.Host}
		respond := e.respond
		e.mu.Unlock()
		if respond != nil {
			respond(w, r)
			return
		}
		_, _ = io.WriteString(w, "hello")
	}))
	t.Cleanup(app.Close)
	mem := memory.New(memory.Options{})
	t.Cleanup(func() { _ = mem.Close() })
	e.store = &outageStore{Store: mem}
	signer, err := sessions.NewSigner([][]byte{[]byte(cookieSecret)})
	require.NoError(t, err)
	m, err := sessions.NewManager(sessions.Options{Store: e.store, Signer: signer, MaxBytes: 1024})
	require.NoError(t, err)
	u, err := url.Parse(app.URL)
	require.NoError(t, err)
	opts := proxy.Options{
		Upstreams: []proxy.Upstream{{Name: "app1", URL: u}},
		Manager:   m,
		Header:    hdr,
		Logger:    zerolog.New(e.logs),
	}
	if mod != nil {
		mod(&opts)
	}
	p, err := proxy.New(opts)
	require.NoError(t, err)
	e.proxy = p
	e.srv = httptest.NewServer(p)
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) setRespond(f func(w http.ResponseWriter, r *http.Request)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.respond = f
}

func (e *env) seen() seen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}

// do sends a request with an optional cookie and extra raw headers.
func (e *env) do(cookie string, hdr map[string]string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/page?q=1", nil)
	require.NoError(e.t, err)
	if cookie != "" {
		req.Header["Cookie"] = []string{"theme=dark; sidecar_sid=" + cookie}
	}
	for k, v := range hdr {
		req.Header[k] = []string{v} // raw: keeps case and underscores
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func sessionCookie(t *testing.T, resp *http.Response) *http.Cookie {
	t.Helper()
	for _, c := range resp.Cookies() {
		if c.Name == "sidecar_sid" {
			return c
		}
	}
	return nil
}

func body(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestAnonymousRequest(t *testing.T) {
	e := newEnv(t, nil)
	resp := e.do("", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "hello", body(t, resp))
	assert.Nil(t, sessionCookie(t, resp), "lazy: no cookie when nothing is written")
	s := e.seen()
	assert.True(t, s.claims.New)
	assert.Empty(t, s.claims.SID)
	assert.Len(t, s.header.Values("X-Sidecar-Session"), 1)
	assert.Equal(t, s.claims.ID, s.header.Get("X-Request-Id"))
	assert.Equal(t, "127.0.0.1", s.header.Get("X-Forwarded-For"))
	assert.Equal(t, "http", s.header.Get("X-Forwarded-Proto"))
	assert.Equal(t, strings.TrimPrefix(e.srv.URL, "http://"), s.host, "the client's Host reaches the app")
}

func TestLoginAndReadBack(t *testing.T) {
	e := newEnv(t, nil)
	e.setRespond(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Sidecar-Patch", `{"user":"ann","cart":[1]}`)
		w.Header().Set("X-Sidecar-Principal", "ann@example.com")
		_, _ = io.WriteString(w, "logged in")
	})
	resp := e.do("", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "logged in", body(t, resp))
	c := sessionCookie(t, resp)
	require.NotNil(t, c)
	assert.True(t, c.HttpOnly)
	assert.Equal(t, "/", c.Path)
	assert.Equal(t, http.SameSiteLaxMode, c.SameSite)
	assert.False(t, c.Secure, "plain HTTP client connection")
	assert.Zero(t, c.MaxAge, "browser-session cookie by default")
	for k := range resp.Header {
		assert.False(t, strings.HasPrefix(strings.ToLower(k), "x-sidecar"), "header %s leaked to the client", k)
	}

	e.setRespond(nil)
	resp = e.do(c.Value, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	s := e.seen()
	assert.False(t, s.claims.New)
	assert.NotEmpty(t, s.claims.SID)
	assert.Equal(t, "ann@example.com", s.claims.Subject)
	assert.JSONEq(t, `{"user":"ann","cart":[1]}`, string(s.claims.Data))
	assert.Equal(t, []string{"theme=dark"}, s.header.Values("Cookie"), "the app never sees Sidecar's cookie")
	assert.NotContains(t, s.header.Get("X-Sidecar-Session"), c.Value[:43])
}

func TestSpoofedHeadersNeverReachApp(t *testing.T) {
	e := newEnv(t, nil)
	e.do("", map[string]string{
		"X-Sidecar-Session": "forged", "x-sidecar-session": "forged", "X_SIDECAR_SESSION": "forged",
		"x_sidecar_data": "forged", "X-SIDECAR-PATCH": "forged", "X-Request-Id": "forged",
		"X-Forwarded-For": "6.6.6.6",
	})
	s := e.seen()
	for k, vs := range s.header {
		assert.False(t, strings.HasPrefix(strings.ReplaceAll(strings.ToLower(k), "_", "-"), "x-sidecar-") && k != "X-Sidecar-Session", "spoofed %s reached the app", k)
		for _, v := range vs {
			assert.NotEqual(t, "forged", v, "header %s", k)
		}
	}
	assert.Len(t, s.header.Values("X-Sidecar-Session"), 1)
	assert.Equal(t, "127.0.0.1", s.header.Get("X-Forwarded-For"))
	assert.Contains(t, e.logs.String(), `"spoofed_headers":4`)
}

func TestAppProtocolErrors(t *testing.T) {
	for name, hdr := range map[string][2]string{
		"patch not object": {"X-Sidecar-Patch", `["a"]`},
		"patch bad json":   {"X-Sidecar-Patch", `{"a":`},
		"unknown action":   {"X-Sidecar-Action", "logout"},
		"too large":        {"X-Sidecar-Patch", `{"big":"` + strings.Repeat("x", 2000) + `"}`},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.setRespond(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Sidecar-Patch", `{"user":"ann"}`)
			})
			c := sessionCookie(t, e.do("", nil))
			require.NotNil(t, c)

			e.setRespond(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Sidecar-Patch", `{"user":"bob"}`)
				w.Header().Set(hdr[0], hdr[1])
				_, _ = io.WriteString(w, "secret page body")
			})
			resp := e.do(c.Value, nil)
			assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
			assert.NotContains(t, body(t, resp), "secret page body", "the app's response is withheld")
			assert.Nil(t, sessionCookie(t, resp))
			assert.Contains(t, e.logs.String(), `"error_kind":"app_protocol"`)

			e.setRespond(nil)
			e.do(c.Value, nil)
			assert.JSONEq(t, `{"user":"ann"}`, string(e.seen().claims.Data), "the session is left as it was")
		})
	}
}

func TestStoreOutage(t *testing.T) {
	e := newEnv(t, nil)
	e.setRespond(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Sidecar-Patch", `{"a":1}`) })
	c := sessionCookie(t, e.do("", nil))
	require.NotNil(t, c)
	e.setRespond(nil)

	e.store.down.Store(true)
	resp := e.do(c.Value, nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "2", resp.Header.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, e.do("", nil).StatusCode, "no cookie and no write: still served")
	assert.Contains(t, e.logs.String(), `"error_kind":"store_unavailable"`)
	e.store.down.Store(false)
	assert.Equal(t, http.StatusOK, e.do(c.Value, nil).StatusCode)
}

func TestUpstreamFailures(t *testing.T) {
	t.Run("timeout is 504", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		e := newEnv(t, func(o *proxy.Options) {
			o.Transport = proxy.NewTransport(proxy.TransportOptions{ResponseHeaderTimeout: 50 * time.Millisecond})
		})
		e.setRespond(func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		resp := e.do("", nil)
		assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
	})
	t.Run("refused is 502", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		u, _ := url.Parse(dead.URL)
		dead.Close()
		e := newEnv(t, func(o *proxy.Options) { o.Upstreams = []proxy.Upstream{{Name: "dead", URL: u}} })
		resp := e.do("", nil)
		assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
		assert.NotEmpty(t, resp.Header.Get("X-Request-Id"))
	})
}

func TestRegenerateAndDestroy(t *testing.T) {
	e := newEnv(t, nil)
	e.setRespond(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Sidecar-Patch", `{"cart":[1]}`) })
	first := sessionCookie(t, e.do("", nil))
	require.NotNil(t, first)

	e.setRespond(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Sidecar-Patch", `{"user":"ann"}`)
		w.Header().Set("X-Sidecar-Action", "regenerate")
	})
	second := sessionCookie(t, e.do(first.Value, nil))
	require.NotNil(t, second)
	assert.NotEqual(t, first.Value, second.Value)

	e.setRespond(nil)
	e.do(first.Value, nil)
	assert.True(t, e.seen().claims.New, "the old cookie stopped working")
	e.do(second.Value, nil)
	assert.JSONEq(t, `{"cart":[1],"user":"ann"}`, string(e.seen().claims.Data))

	e.setRespond(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Sidecar-Action", "destroy") })
	resp := e.do(second.Value, nil)
	gone := sessionCookie(t, resp)
	require.NotNil(t, gone)
	assert.Equal(t, -1, gone.MaxAge, "the cookie is expired")
	e.setRespond(nil)
	e.do(second.Value, nil)
	assert.True(t, e.seen().claims.New)
}

func TestAppCannotSetSidecarCookie(t *testing.T) {
	e := newEnv(t, nil)
	e.setRespond(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sidecar_sid", Value: "planted"})
		http.SetCookie(w, &http.Cookie{Name: "JSESSIONID", Value: "legacy"})
	})
	resp := e.do("", nil)
	assert.Nil(t, sessionCookie(t, resp))
	assert.Len(t, resp.Cookies(), 1)
}

func TestSecureCookieOnTLS(t *testing.T) {
	e := newEnv(t, nil)
	e.srv.Close()
	p := e.srv.Config.Handler
	tlsSrv := httptest.NewTLSServer(p)
	t.Cleanup(tlsSrv.Close)
	e.setRespond(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Sidecar-Patch", `{"a":1}`) })
	resp, err := tlsSrv.Client().Get(tlsSrv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	c := sessionCookie(t, resp)
	require.NotNil(t, c)
	assert.True(t, c.Secure)
	assert.Equal(t, "https", e.seen().header.Get("X-Forwarded-Proto"))
}

func TestCookieOptions(t *testing.T) {
	e := newEnv(t, func(o *proxy.Options) {
		o.Cookie = proxy.CookieOptions{Name: "sidecar_sid", Path: "/app", Domain: "example.com",
			SameSite: http.SameSiteStrictMode, AlwaysSecure: true, Persistent: true}
	})
	e.setRespond(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Sidecar-Patch", `{"a":1}`) })
	raw := e.do("", nil).Header.Get("Set-Cookie")
	for _, want := range []string{"Path=/app", "Domain=example.com", "SameSite=Strict", "Secure", "HttpOnly", "Max-Age=43"} {
		assert.Contains(t, raw, want)
	}
}

func TestAccessLogNeverHoldsSecrets(t *testing.T) {
	e := newEnv(t, nil)
	e.setRespond(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Sidecar-Patch", `{"password_hint":"hunter2"}`)
	})
	c := sessionCookie(t, e.do("", nil))
	require.NotNil(t, c)
	e.setRespond(nil)
	e.do(c.Value, nil)
	logs := e.logs.String()
	for _, secret := range []string{c.Value, c.Value[:43], "hunter2", cookieSecret, headerSecret, "q=1", e.seen().header.Get("X-Sidecar-Session")} {
		assert.NotContains(t, logs, secret)
	}
	for _, field := range []string{`"method":"GET"`, `"path":"/page"`, `"status":200`, `"upstream":"app1"`,
		`"session":"created"`, `"session":"loaded"`, `"request_id":"`, `"store_time":`, `"duration":`} {
		assert.Contains(t, logs, field)
	}
}

// TestInterimAndTrailerHeadersScrubbed pins a review finding: 1xx headers
// and trailers bypass ModifyResponse in httputil.ReverseProxy, so Sidecar
// must clean them separately.
func TestInterimAndTrailerHeadersScrubbed(t *testing.T) {
	e := newEnv(t, nil)
	e.setRespond(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Sidecar-Patch", `{"leak":"early"}`)
		h.Set("Set-Cookie", "sidecar_sid=evil; Path=/")
		h.Set("Link", "</app.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		h.Del("X-Sidecar-Patch")
		h.Del("Set-Cookie")
		h.Set("Trailer", "X-Sidecar-Patch, Set-Cookie, X-Checksum")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "body")
		h.Set("X-Sidecar-Patch", `{"leak":"trailer"}`)
		h.Set("Set-Cookie", "sidecar_sid=evil2")
		h.Set("X-Checksum", "abc")
	})
	var interim []http.Header
	trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
		interim = append(interim, http.Header(h).Clone())
		return nil
	}}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, e.srv.URL, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "body", body(t, resp))
	require.Len(t, interim, 1, "the early hints still reach the client")
	assert.Equal(t, "</app.css>; rel=preload", interim[0].Get("Link"))
	for _, h := range append(interim, resp.Header, resp.Trailer) {
		assert.Empty(t, h.Values("X-Sidecar-Patch"))
		for _, c := range h.Values("Set-Cookie") {
			assert.NotContains(t, c, "sidecar_sid")
		}
	}
	assert.Equal(t, "abc", resp.Trailer.Get("X-Checksum"), "other trailers pass")
	e.do("", nil)
	assert.True(t, e.seen().claims.New, "nothing was written from 1xx or trailers")
}
