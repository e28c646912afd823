package proxy_test

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// newTombstoneEnv is newEnv with a Manager on a store with tombstones (the
// memory store keeps them as the Store contract describes).
func newTombstoneEnv(t *testing.T) *env {
	t.Helper()
	mem := memory.New(memory.Options{})
	t.Cleanup(func() { _ = mem.Close() })
	signer, err := sessions.NewSigner([][]byte{[]byte(cookieSecret)})
	require.NoError(t, err)
	m, err := sessions.NewManager(sessions.Options{
		Store: mem, Signer: signer, MaxBytes: 1024,
	})
	require.NoError(t, err)
	return newEnv(t, func(o *proxy.Options) { o.Manager = m })
}

// loginFlow creates a session from an anonymous write, then logs in on it
// with a regenerate, and returns the cookie from before and after the
// login.
func loginFlow(t *testing.T, e *env) (old, fresh string) {
	t.Helper()
	e.setRespond(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Sidecar-Patch", `{"cart":[1]}`) })
	first := sessionCookie(t, e.do("", nil))
	require.NotNil(t, first)
	e.setRespond(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Sidecar-Patch", `{"user":"ann"}`)
		w.Header().Set("X-Sidecar-Principal", "ann")
		w.Header().Set("X-Sidecar-Action", "regenerate")
	})
	second := sessionCookie(t, e.do(first.Value, nil))
	require.NotNil(t, second)
	require.NotEqual(t, first.Value, second.Value)
	e.setRespond(nil)
	return first.Value, second.Value
}

// requireLoggedIn checks that the login cookie still holds the login and
// nothing a replaced request tried to write.
func requireLoggedIn(t *testing.T, e *env, fresh string) {
	t.Helper()
	e.setRespond(nil)
	resp := e.do(fresh, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	c := e.seen().claims
	assert.Equal(t, "ann", c.Subject)
	assert.JSONEq(t, `{"cart":[1],"user":"ann"}`, string(c.Data))
	assert.False(t, c.Replaced)
}

// TestReplacedCookie pins issue 9 item 2 at the HTTP level: after a login
// that regenerates, a request with the pre-login cookie reaches the app as
// anonymous with "replaced": true, gets no Set-Cookie whatever the app
// answers, and a write from it is refused with 409, the app's response
// withheld.
func TestReplacedCookie(t *testing.T) {
	for name, tc := range map[string]struct {
		hdr     map[string]string
		refused bool
	}{
		"read":      {nil, false},
		"null only": {map[string]string{"X-Sidecar-Patch": `{"flash":null}`}, false},
		"patch":     {map[string]string{"X-Sidecar-Patch": `{"beacon":1}`}, true},
		"principal": {map[string]string{"X-Sidecar-Principal": "mallory"}, true},
		"login": {map[string]string{"X-Sidecar-Patch": `{"user":"mallory"}`, "X-Sidecar-Principal": "mallory",
			"X-Sidecar-Action": "regenerate"}, true},
		"logout": {map[string]string{"X-Sidecar-Action": "destroy"}, true},
	} {
		t.Run(name, func(t *testing.T) {
			e := newTombstoneEnv(t)
			old, fresh := loginFlow(t, e)
			e.setRespond(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.hdr {
					w.Header().Set(k, v)
				}
				w.Header().Set("X-App", "page")
				_, _ = w.Write([]byte("the app's page"))
			})
			resp := e.do(old, nil)
			c := e.seen().claims
			assert.True(t, c.Replaced, "the app is told the cookie was replaced")
			assert.True(t, c.New)
			assert.Empty(t, c.SID)
			assert.Empty(t, c.Subject)
			assert.JSONEq(t, `{}`, string(c.Data))
			assert.Nil(t, sessionCookie(t, resp), "a replaced cookie is never set or cleared")
			if tc.refused {
				assert.Equal(t, http.StatusConflict, resp.StatusCode)
				assert.Empty(t, resp.Header.Get("X-App"), "the app's response is withheld")
				assert.Equal(t, "409 Conflict\n", body(t, resp))
				assert.Contains(t, e.logs.String(), `"error_kind":"session_replaced"`)
				assert.Contains(t, e.logs.String(), `"level":"warn"`)
			} else {
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, "the app's page", body(t, resp))
			}
			assert.Contains(t, e.logs.String(), `"session":"replaced"`)
			requireLoggedIn(t, e, fresh)
		})
	}
}

// TestWriteInFlightAcrossLogin: a request with the pre-login cookie that
// loaded the session before the login regenerated it, and writes after,
// is refused in the same way and sets no cookie.
func TestWriteInFlightAcrossLogin(t *testing.T) {
	e := newTombstoneEnv(t)
	e.setRespond(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Sidecar-Patch", `{"cart":[1]}`) })
	first := sessionCookie(t, e.do("", nil))
	require.NotNil(t, first)

	arrived, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	let := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(let) // a failing test must not leave the straggler held
	e.setRespond(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Hold") != "" {
			close(arrived)
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			w.Header().Set("X-Sidecar-Patch", `{"beacon":1}`)
			return
		}
		w.Header().Set("X-Sidecar-Patch", `{"user":"ann"}`)
		w.Header().Set("X-Sidecar-Principal", "ann")
		w.Header().Set("X-Sidecar-Action", "regenerate")
	})
	straggler := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/beacon", nil)
		req.Header.Set("Cookie", "sidecar_sid="+first.Value)
		req.Header.Set("X-Hold", "1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			straggler <- nil
			return
		}
		straggler <- resp
	}()
	select {
	case <-arrived:
	case <-time.After(waitTimeout):
		t.Fatal("the straggler never reached the app")
	}
	login := e.do(first.Value, nil)
	require.Equal(t, http.StatusOK, login.StatusCode)
	loggedIn := sessionCookie(t, login)
	require.NotNil(t, loggedIn)
	let()

	var resp *http.Response
	select {
	case resp = <-straggler:
	case <-time.After(waitTimeout):
		t.Fatal("the straggler never answered")
	}
	require.NotNil(t, resp, "the straggler got no response")
	t.Cleanup(func() { _ = resp.Body.Close() })
	assert.Equal(t, http.StatusConflict, resp.StatusCode)
	assert.Nil(t, sessionCookie(t, resp))
	assert.Contains(t, e.logs.String(), `"error_kind":"session_replaced"`)

	e.setRespond(nil)
	e.do(loggedIn.Value, nil)
	c := e.seen().claims
	assert.Equal(t, "ann", c.Subject)
	assert.JSONEq(t, `{"cart":[1],"user":"ann"}`, string(c.Data), "the straggler's write never reached the new session")
}
