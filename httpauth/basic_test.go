package httpauth

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBearerAllowsBasic(t *testing.T) {
	tok := NewBearer([]byte("s3cret-token-0123456789"))
	for _, tc := range []struct {
		name       string
		user, pass string
		header     string // used when user and pass are empty
		want       bool
	}{
		{"any user, the token", "admin", "s3cret-token-0123456789", "", true},
		{"empty user", "", "s3cret-token-0123456789", "", true},
		{"wrong password", "admin", "s3cret-token-012345678", "", false},
		{"the token as the user", "s3cret-token-0123456789", "x", "", false},
		{"bearer", "", "", "Bearer s3cret-token-0123456789", false},
		{"malformed", "", "", "Basic !!!", false},
		{"none", "", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			switch {
			case tc.pass != "":
				r.SetBasicAuth(tc.user, tc.pass)
			case tc.header != "":
				r.Header.Set("Authorization", tc.header)
			}
			assert.Equal(t, tc.want, tok.AllowsBasic(r))
		})
	}
}

// basic sends one request from remote with Basic credentials whose
// password is pass ("" for no Authorization header) and returns the
// status CheckBasic decided and the response headers.
func (e *guardEnv) basic(remote, pass string) (int, http.Header) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	if pass != "" {
		r.SetBasicAuth("anyone", pass)
	}
	w := httptest.NewRecorder()
	return e.g.CheckBasic(w, r, "Sidecar admin"), w.Header()
}

func TestCheckBasic(t *testing.T) {
	e := newGuardEnv(t, Limits{MaxFailures: 3})
	const a = "192.0.2.1:1000"
	status, _ := e.basic(a, guardToken)
	assert.Zero(t, status, "the token as the password")

	for range 20 {
		status, h := e.basic(a, "")
		require.Equal(t, http.StatusUnauthorized, status)
		require.Equal(t, `Basic realm="Sidecar admin", charset="UTF-8"`, h.Get("WWW-Authenticate"))
	}
	assert.Zero(t, e.logs.Count("authentication failed"), "a request without credentials is not logged")
	status, _ = e.basic(a, guardToken)
	assert.Zero(t, status, "nor counted: a browser's first request has none")

	status, h := e.check(a, guardToken)
	assert.Zero(t, status, "Check still wants a bearer token")
	status, h = e.basic(a, "wrong")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, h.Get("WWW-Authenticate"), "Basic")
	status, _ = e.check(a, "wrong")
	assert.Equal(t, http.StatusUnauthorized, status)
	status, _ = e.basic(a, "wrong")
	assert.Equal(t, http.StatusUnauthorized, status, "the third failure, over both schemes, locks out")
	assert.Equal(t, 3, e.logs.Count("authentication failed"))

	status, h = e.basic(a, guardToken)
	assert.Equal(t, http.StatusTooManyRequests, status, "Check and CheckBasic share the lockout")
	assert.Equal(t, "60", h.Get("Retry-After"))
	status, _ = e.check(a, guardToken)
	assert.Equal(t, http.StatusTooManyRequests, status)
	status, _ = e.basic(a, "")
	assert.Equal(t, http.StatusTooManyRequests, status, "a locked-out address gets 429 even without credentials")
}
