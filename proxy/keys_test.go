package proxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// keysEnv is a proxy whose app writes a session on /write, waits for the
// test on /hold (then writes) and answers with the session header it got.
type keysEnv struct {
	t       *testing.T
	proxy   *proxy.Proxy
	srv     *httptest.Server
	arrived chan struct{}
	release chan struct{}
	unblock func() // closes release, once
}

func newKeysEnv(t *testing.T, cookie *sessions.Signer, header *sessions.HeaderSigner) *keysEnv {
	t.Helper()
	e := &keysEnv{t: t, arrived: make(chan struct{}, 1), release: make(chan struct{})}
	e.unblock = sync.OnceFunc(func() { close(e.release) })
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hold":
			e.arrived <- struct{}{}
			<-e.release
			w.Header().Set("X-Sidecar-Patch", `{"n":2}`)
		case "/write":
			w.Header().Set("X-Sidecar-Patch", `{"n":1}`)
		}
		_, _ = io.WriteString(w, r.Header.Get("X-Sidecar-Session"))
	}))
	t.Cleanup(app.Close)
	t.Cleanup(e.unblock) // before app.Close: a held request must end
	store := memory.New(memory.Options{})
	t.Cleanup(func() { _ = store.Close() })
	m, err := sessions.NewManager(sessions.Options{Store: store, Signer: cookie, Header: header})
	require.NoError(t, err)
	u, err := url.Parse(app.URL)
	require.NoError(t, err)
	p, err := proxy.New(proxy.Options{Upstreams: []proxy.Upstream{{Name: "app1", URL: u}}, Manager: m, Header: header})
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Close() })
	e.proxy = p
	e.srv = httptest.NewServer(p)
	t.Cleanup(e.srv.Close)
	return e
}

// get requests path with the cookie value (none when ""), and returns the
// status, the new cookie value ("" when none was set) and the session
// header the app got.
func (e *keysEnv) get(path, cookie string) (status int, setCookie, jwt string) {
	e.t.Helper()
	status, setCookie, jwt, err := e.try(path, cookie)
	require.NoError(e.t, err)
	return status, setCookie, jwt
}

// try is get that returns its error, for other goroutines than the test's.
func (e *keysEnv) try(path, cookie string) (status int, setCookie, jwt string, err error) {
	req, err := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if err != nil {
		return 0, "", "", err
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: proxy.DefaultCookieName, Value: cookie})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	for _, c := range resp.Cookies() {
		if c.Name == proxy.DefaultCookieName {
			setCookie = c.Value
		}
	}
	return resp.StatusCode, setCookie, string(body), err
}

func signer(t *testing.T, secrets ...string) *sessions.Signer {
	t.Helper()
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		keys[i] = []byte(s)
	}
	s, err := sessions.NewSigner(keys)
	require.NoError(t, err)
	return s
}

func headerSigner(t *testing.T, secret string) *sessions.HeaderSigner {
	t.Helper()
	h, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte(secret)})
	require.NoError(t, err)
	return h
}

// verifies reports whether jwt verifies under the header secret.
func verifies(t *testing.T, jwt, secret string) bool {
	_, err := headerSigner(t, secret).ParseHeader(jwt)
	return err == nil
}

// signedBy reports whether cookie was signed with secret.
func signedBy(t *testing.T, cookie, secret string) bool {
	_, _, err := signer(t, secret).Verify(cookie)
	return err == nil
}

const (
	oldCookieSecret = "old-cookie-secret-0123456789abcdefghijkl"
	newCookieSecret = "new-cookie-secret-0123456789abcdefghijkl"
	oldHeaderSecret = "old-header-secret-0123456789abcdefghijkl"
	newHeaderSecret = "new-header-secret-0123456789abcdefghijkl"
)

func TestSetKeysRotatesSecrets(t *testing.T) {
	e := newKeysEnv(t, signer(t, oldCookieSecret), headerSigner(t, oldHeaderSecret))
	_, old, jwt := e.get("/write", "")
	require.NotEmpty(t, old, "a session was created")
	require.True(t, signedBy(t, old, oldCookieSecret))
	require.True(t, verifies(t, jwt, oldHeaderSecret))

	require.NoError(t, e.proxy.SetKeys(proxy.Keys{Cookie: signer(t, newCookieSecret, oldCookieSecret), Header: headerSigner(t, newHeaderSecret)}))

	// The old cookie still verifies: its session is loaded, and the
	// cookie is re-issued under the new secret.
	status, reissued, jwt := e.get("/", old)
	require.Equal(t, http.StatusOK, status)
	claims, err := headerSigner(t, newHeaderSecret).ParseHeader(jwt)
	require.NoError(t, err, "the app's header verifies with the new secret at once")
	assert.False(t, claims.New, "the session under the old cookie is found")
	assert.JSONEq(t, `{"n":1}`, string(claims.Data))
	assert.False(t, verifies(t, jwt, oldHeaderSecret), "and no longer with the old one")
	require.NotEmpty(t, reissued, "a cookie signed with an old secret is re-issued")
	assert.True(t, signedBy(t, reissued, newCookieSecret))

	// New sessions are signed with the new secret.
	_, fresh, _ := e.get("/write", "")
	assert.True(t, signedBy(t, fresh, newCookieSecret))
	assert.False(t, signedBy(t, fresh, oldCookieSecret))

	// Once the old secret is dropped, its cookies are anonymous.
	require.NoError(t, e.proxy.SetKeys(proxy.Keys{Cookie: signer(t, newCookieSecret), Header: headerSigner(t, newHeaderSecret)}))
	_, _, jwt = e.get("/", old)
	claims, err = headerSigner(t, newHeaderSecret).ParseHeader(jwt)
	require.NoError(t, err)
	assert.True(t, claims.New, "a cookie of a dropped secret is no session")
	_, _, jwt = e.get("/", reissued)
	claims, err = headerSigner(t, newHeaderSecret).ParseHeader(jwt)
	require.NoError(t, err)
	assert.False(t, claims.New, "the re-issued cookie is")
}

// TestSetKeysLeavesRequestsInFlightOnTheirGeneration: a request that
// started before a rotation has its header signed, and its new cookie
// signed, with the keys it started with.
func TestSetKeysLeavesRequestsInFlightOnTheirGeneration(t *testing.T) {
	e := newKeysEnv(t, signer(t, oldCookieSecret), headerSigner(t, oldHeaderSecret))
	type result struct {
		cookie, jwt string
		err         error
	}
	done := make(chan result, 1)
	go func() { // ends when /hold is released and answered
		_, c, jwt, err := e.try("/hold", "")
		done <- result{c, jwt, err}
	}()
	select {
	case <-e.arrived:
	case r := <-done:
		t.Fatalf("/hold ended before reaching the app: %v", r.err)
	case <-time.After(waitTimeout):
		t.Fatal("/hold never reached the app")
	}
	require.NoError(t, e.proxy.SetKeys(proxy.Keys{Cookie: signer(t, newCookieSecret), Header: headerSigner(t, newHeaderSecret)}))
	_, _, jwt := e.get("/", "")
	assert.True(t, verifies(t, jwt, newHeaderSecret), "a request after the rotation uses the new keys")
	e.unblock()
	r := <-done
	require.NoError(t, r.err)
	assert.True(t, verifies(t, r.jwt, oldHeaderSecret), "the held request got a header of its own generation")
	require.NotEmpty(t, r.cookie)
	assert.True(t, signedBy(t, r.cookie, oldCookieSecret), "and its cookie is signed with that generation's secret")
}

func TestSetKeysRefusesMissingKeys(t *testing.T) {
	e := newKeysEnv(t, signer(t, oldCookieSecret), headerSigner(t, oldHeaderSecret))
	assert.Error(t, e.proxy.SetKeys(proxy.Keys{Cookie: signer(t, newCookieSecret)}))
	assert.Error(t, e.proxy.SetKeys(proxy.Keys{Header: headerSigner(t, newHeaderSecret)}))
	_, _, jwt := e.get("/", "")
	assert.True(t, verifies(t, jwt, oldHeaderSecret), "a refused SetKeys changes nothing")
}
