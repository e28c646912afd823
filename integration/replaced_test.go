package integration

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/sessions"
)

// TestPreLoginCookieNeverLogsTheBrowserOut pins issue 9 item 2, as a
// browser meets it: after an anonymous write and a login that regenerates,
// requests still carrying the pre-login cookie (an analytics beacon, a
// second tab) arrive, one held in the app across the login and others
// after it. None of them sets or clears the cookie, so the browser stays
// logged in; their writes get 409 and never reach the logged-in session;
// the old cookie never sees the user. Where there are two Sidecars on one
// Redis, the login goes through one and the stragglers through the other.
func TestPreLoginCookieNeverLogsTheBrowserOut(t *testing.T) {
	stores := map[string]func(t *testing.T, mod func(*config.Config)) (*instance, *instance){
		"memory": func(t *testing.T, mod func(*config.Config)) (*instance, *instance) {
			return one(t, baseConfig(newApp(t, "app").URL), mod)
		},
		"bolt": func(t *testing.T, mod func(*config.Config)) (*instance, *instance) {
			c := baseConfig(newApp(t, "app").URL)
			c.Store.Type = config.StoreBolt
			c.Store.Bolt.Path = filepath.Join(t.TempDir(), "s.db")
			return one(t, c, mod)
		},
		"redis, two instances": twoOnRedis,
	}
	verifier, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte(headerSecret)})
	require.NoError(t, err)
	// replaced reads the replaced claim from the session header the app
	// received, which the app echoes back.
	replaced := func(t *testing.T, r reply) bool {
		t.Helper()
		hs := r.View.Headers["X-Sidecar-Session"]
		require.Len(t, hs, 1, "the app received one session header: %s", r)
		c, err := verifier.ParseHeader(hs[0])
		require.NoError(t, err)
		return c.Replaced
	}
	for name, start := range stores {
		t.Run(name, func(t *testing.T) {
			a, b := start(t, nil)
			browser := &client{t: t}
			requireOK(t, browser.do(a.base, "/set?k=cart&v=1", nil), "the anonymous write")
			old := browser.cookie
			require.NotEmpty(t, old, "the first write set a cookie")

			// A beacon sent with the old cookie is in the app when the
			// login regenerates.
			gate := newGate(t)
			beacon := make(chan reply, 1)
			go func() { // exits when the beacon is answered
				r, err := (&client{cookie: old}).try(b.base, "/slow-set?k=beacon&v=1&gate="+gate, nil)
				if err != nil {
					r.Body = err.Error()
				}
				beacon <- r
			}()
			waitClosed(t, slowGate(gate).arrived, "the beacon reaching the app")
			login := browser.do(a.base, "/login?user=ann", nil)
			requireOK(t, login, "the login")
			require.NotNil(t, setCookieFor(login.Resp), "the login sets the new cookie")
			require.NotEqual(t, old, browser.cookie)
			close(slowGate(gate).release)

			r := receive(t, beacon, "the beacon held across the login")
			assert.Equal(t, http.StatusConflict, r.Status, "the beacon's write is refused: %s", r)
			assert.Nil(t, setCookieFor(r.Resp), "the beacon sets no cookie: %s", r)

			// After the login: a write and a read with the old cookie.
			tab := &client{t: t, cookie: old}
			r = tab.do(b.base, "/set?k=tab&v=2", nil)
			assert.Equal(t, http.StatusConflict, r.Status, "a write with the old cookie is refused: %s", r)
			assert.Nil(t, setCookieFor(r.Resp), "the refused write sets no cookie: %s", r)
			r = tab.do(b.base, "/whoami", nil)
			requireOK(t, r, "a read with the old cookie")
			assert.Nil(t, setCookieFor(r.Resp), "a read with the old cookie sets no cookie")
			assert.True(t, r.View.New, "the old cookie has no session")
			assert.Empty(t, r.View.Subject, "the old cookie never sees the user")
			assert.Empty(t, r.View.Data)
			assert.True(t, replaced(t, r), "the app is told the cookie was replaced")
			assert.Equal(t, old, tab.cookie)

			// The browser is still logged in, with nothing the stragglers
			// wrote.
			for _, in := range []*instance{a, b} {
				r := browser.do(in.base, "/whoami", nil)
				requireOK(t, r, "whoami with the login cookie")
				assert.Equal(t, "ann", r.View.Subject, "behind %s", in.base)
				assert.Equal(t, map[string]any{"cart": 1.0, "user": "ann"}, r.View.Data, "behind %s", in.base)
				assert.False(t, replaced(t, r))
				assert.Nil(t, setCookieFor(r.Resp))
			}
		})
	}
}
