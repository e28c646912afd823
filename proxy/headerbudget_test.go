package proxy_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// budgetEnv is a proxy whose Manager enforces a header budget of 1500
// bytes, in front of an app that records the claims it gets and answers
// with the headers the test sets.
type budgetEnv struct {
	srv    *httptest.Server
	proxy  *proxy.Proxy
	store  sessions.Store
	signer *sessions.Signer
	hdr    *sessions.HeaderSigner
	logs   *logtest.Buffer

	mu     sync.Mutex
	claims *sessions.Claims
	reply  http.Header
}

const budget = 1500

func newBudgetEnv(t *testing.T) *budgetEnv {
	t.Helper()
	e := &budgetEnv{logs: &logtest.Buffer{}}
	hdr, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte(headerSecret), MaxBytes: budget})
	require.NoError(t, err)
	e.hdr = hdr
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw := r.Header.Get("X-Sidecar-Session")
		c, err := hdr.ParseHeader(raw)
		if err != nil || len(raw) > budget {
			http.Error(w, "header refused", http.StatusBadRequest) // as nginx or Tomcat would
			return
		}
		e.mu.Lock()
		e.claims = c
		for k, v := range e.reply {
			w.Header()[k] = v
		}
		e.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(app.Close)
	mem := memory.New(memory.Options{})
	t.Cleanup(func() { _ = mem.Close() })
	e.store = mem
	e.signer, err = sessions.NewSigner([][]byte{[]byte(cookieSecret)})
	require.NoError(t, err)
	m, err := sessions.NewManager(sessions.Options{Store: mem, Signer: e.signer, MaxBytes: 1 << 20, Header: hdr})
	require.NoError(t, err)
	u, err := url.Parse(app.URL)
	require.NoError(t, err)
	e.proxy, err = proxy.New(proxy.Options{Upstreams: []proxy.Upstream{{Name: "app1", URL: u}}, Manager: m, Header: hdr,
		Logger: zerolog.New(e.logs)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.proxy.Close() })
	e.srv = httptest.NewServer(e.proxy)
	t.Cleanup(e.srv.Close)
	return e
}

// do sends one request with the cookie (if any) while the app answers
// with the given headers; it returns the response and what the app saw
// (nil when the request never reached it).
func (e *budgetEnv) do(t *testing.T, cookie string, reply http.Header) (*http.Response, *sessions.Claims) {
	t.Helper()
	e.mu.Lock()
	e.claims, e.reply = nil, reply
	e.mu.Unlock()
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/", nil)
	require.NoError(t, err)
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: "sidecar_sid", Value: cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	e.mu.Lock()
	defer e.mu.Unlock()
	return resp, e.claims
}

func patch(k string, n int) http.Header {
	return http.Header{"X-Sidecar-Patch": {`{"` + k + `":"` + strings.Repeat("x", n) + `"}`}}
}

// TestHeaderBudgetWritesGet502 is issue 9 item 3: a write after which
// the session header would pass headers.max_bytes, or that sets a
// principal past 512 bytes, is refused with 502 and changes nothing,
// instead of being accepted and locking the user out of the app server.
func TestHeaderBudgetWritesGet502(t *testing.T) {
	e := newBudgetEnv(t)
	resp, _ := e.do(t, "", patch("big", 1200))
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "create past the budget")
	assert.Empty(t, resp.Cookies(), "no session created")
	assert.Contains(t, e.logs.String(), "would exceed headers.max_bytes 1500")

	resp, _ = e.do(t, "", patch("user", 3))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	cookie := resp.Cookies()[0].Value

	for name, reply := range map[string]http.Header{
		"grow past the budget":  patch("big", 1200),
		"principal of 513":      {"X-Sidecar-Principal": {strings.Repeat("p", 513)}},
		"regenerate and grow":   {"X-Sidecar-Patch": patch("big", 1200)["X-Sidecar-Patch"], "X-Sidecar-Action": {"regenerate"}},
		"principal and patches": {"X-Sidecar-Principal": {strings.Repeat("p", 400)}, "X-Sidecar-Patch": patch("b", 700)["X-Sidecar-Patch"]},
	} {
		t.Run(name, func(t *testing.T) {
			resp, _ := e.do(t, cookie, reply)
			assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
			assert.Empty(t, resp.Cookies())
			resp, c := e.do(t, cookie, nil)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.NotNil(t, c)
			assert.JSONEq(t, `{"user":"xxx"}`, string(c.Data), "session unchanged")
			assert.Equal(t, int64(1), c.Version)
			assert.Empty(t, c.Subject)
		})
	}
}

// TestOversizedSessionSentWithoutData: a session from before the budget
// is sent without its data, so the app server takes the request and the
// app can log the user out; the warning is rate-limited.
func TestOversizedSessionSentWithoutData(t *testing.T) {
	e := newBudgetEnv(t)
	// A session written before the budget existed.
	old, err := sessions.NewManager(sessions.Options{Store: e.store, Signer: e.signer, MaxBytes: 8192})
	require.NoError(t, err)
	s, err := old.Load(context.Background(), "")
	require.NoError(t, err)
	p := "ann"
	require.NoError(t, old.Commit(context.Background(), s, &sessions.Change{Principal: &p,
		Patches: []string{`{"cart":"` + strings.Repeat("c", 5000) + `"}`}}))
	cookie := e.signer.Sign(s.Token())
	require.Greater(t, e.hdr.Len(s.Record()), budget)

	for i := range 3 {
		resp, c := e.do(t, cookie, nil)
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d reaches the app", i)
		require.NotNil(t, c)
		assert.True(t, c.DataOmitted)
		assert.Nil(t, c.Data)
		assert.Equal(t, "ann", c.Subject)
		assert.Equal(t, s.SID(), c.SID)
	}
	assert.Equal(t, uint64(3), e.proxy.DataOmitted())
	assert.Equal(t, 1, e.logs.Count("sent without its data"), "one warning, not one per request")
	assert.Equal(t, 3, e.logs.Count(`"session_data_omitted":true`), "each access-log line says so")

	resp, _ := e.do(t, cookie, patch("more", 10))
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "a write that grows it is refused")
	resp, _ = e.do(t, cookie, http.Header{"X-Sidecar-Patch": {`{"cart":"small"}`}})
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a write that shrinks it is taken")
	resp, c := e.do(t, cookie, http.Header{"X-Sidecar-Action": {"destroy"}})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.JSONEq(t, `{"cart":"small"}`, string(c.Data), "back under the budget: data is sent again")
	require.Len(t, resp.Cookies(), 1)
	assert.Equal(t, -1, resp.Cookies()[0].MaxAge, "logout works")
	_, err = e.store.Load(context.Background(), sessionsKey(t, e.signer, cookie), nil)
	assert.ErrorIs(t, err, sessions.ErrNotFound)
}

func sessionsKey(t *testing.T, s *sessions.Signer, cookie string) string {
	t.Helper()
	tok, _, err := s.Verify(cookie)
	require.NoError(t, err)
	return tok.Key()
}
