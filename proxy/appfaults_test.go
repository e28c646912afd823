package proxy_test

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
)

// login makes a session holding {"user":"ann"} with principal ann and
// returns its cookie value and the claims the app then sees.
func (e *env) login(t *testing.T) (string, *sessions.Claims) {
	t.Helper()
	e.setRespond(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Sidecar-Patch", `{"user":"ann"}`)
		w.Header().Set("X-Sidecar-Principal", "ann")
	})
	c := sessionCookie(t, e.do("", nil))
	require.NotNil(t, c)
	e.setRespond(nil)
	e.do(c.Value, nil)
	before := e.seen().claims
	require.Equal(t, "ann", before.Subject)
	return c.Value, before
}

// assertUnchanged checks that the session still reads as before.
func (e *env) assertUnchanged(t *testing.T, cookie string, before *sessions.Claims) {
	t.Helper()
	e.setRespond(nil)
	resp := e.do(cookie, nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	after := e.seen().claims
	assert.JSONEq(t, string(before.Data), string(after.Data), "the session's data is as it was")
	assert.Equal(t, before.Subject, after.Subject, "the principal is as it was")
	assert.Equal(t, before.Version, after.Version, "nothing was written")
}

// TestResponseDirectivesRefused pins issue 9 item 4 at the proxy: a patch
// that the apps' JSON decoders would choke on, and principals that
// disagree, are the app's error: 502, the app's response withheld, the
// session unchanged, and the cause logged with the request id.
func TestResponseDirectivesRefused(t *testing.T) {
	deep := `{"a":` + strings.Repeat("[", sessions.DefaultMaxPatchDepth) + strings.Repeat("]", sessions.DefaultMaxPatchDepth) + `}`
	tests := map[string]struct {
		headers http.Header
		cause   string
	}{
		"invalid UTF-8 in a value": {http.Header{"X-Sidecar-Patch": {"{\"user\":\"b\xffb\"}"}}, "invalid UTF-8"},
		"invalid UTF-8 in a name":  {http.Header{"X-Sidecar-Patch": {"{\"us\xe9r\":\"bob\"}"}}, "invalid UTF-8"},
		"lone high surrogate":      {http.Header{"X-Sidecar-Patch": {`{"user":"\ud800"}`}}, "surrogate"},
		"lone low surrogate":       {http.Header{"X-Sidecar-Patch": {`{"user":"\udc00x"}`}}, "surrogate"},
		"high surrogate unpaired":  {http.Header{"X-Sidecar-Patch": {`{"user":"\ud83d\u0041"}`}}, "surrogate"},
		"NUL-led name":             {http.Header{"X-Sidecar-Patch": {`{"\u0000user":"bob"}`}}, `\\u0000`},
		"nested too deep":          {http.Header{"X-Sidecar-Patch": {deep}}, "nested too deep"},
		"two principal lines":      {http.Header{"X-Sidecar-Principal": {"bob", "eve"}}, "conflicting"},
		"two principal spellings":  {http.Header{"X-Sidecar-Principal": {"bob"}, "X_sidecar_principal": {"eve"}}, "conflicting"},
		"principal and clear":      {http.Header{"X-Sidecar-Principal": {"bob"}, "X-SIDECAR-PRINCIPAL": {""}}, "conflicting"},
		"principal invalid UTF-8":  {http.Header{"X-Sidecar-Principal": {"b\xffb"}}, "not valid UTF-8"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, nil)
			cookie, before := e.login(t)
			e.setRespond(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Sidecar-Patch", `{"cart":[1]}`) // a good patch alongside
				for k, vs := range tt.headers {
					w.Header()[k] = append(w.Header()[k], vs...) // raw spellings
				}
				_, _ = io.WriteString(w, "secret page body")
			})
			resp := e.do(cookie, nil)
			assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
			assert.NotContains(t, body(t, resp), "secret page body", "the app's response is withheld")
			assert.Nil(t, sessionCookie(t, resp))
			id := resp.Header.Get("X-Request-Id")
			require.NotEmpty(t, id)
			line := logLine(t, e.logs.String(), id)
			assert.Contains(t, line, `"error_kind":"app_protocol"`)
			assert.Regexp(t, tt.cause, line)
			e.assertUnchanged(t, cookie, before)
		})
	}
}

// logLine returns the log line that carries the request id.
func logLine(t *testing.T, logs, id string) string {
	t.Helper()
	for line := range strings.Lines(logs) {
		if strings.Contains(line, `"request_id":"`+id+`"`) {
			return line
		}
	}
	t.Fatalf("no log line for request %s in:\n%s", id, logs)
	return ""
}

// TestResponseHeaderCap: response headers past
// TransportOptions.MaxResponseHeaderBytes are the app's fault: 502, the
// session unchanged, no retry (the app may have acted), and no failure
// counted against the upstream (it answered; see
// errResponseHeaderTooLarge). Headers within the cap pass.
func TestResponseHeaderCap(t *testing.T) {
	const limit = 8 << 10
	var pool *proxy.Pool
	var hits atomic.Int64
	e := newEnv(t, func(o *proxy.Options) {
		tr := proxy.NewTransport(proxy.TransportOptions{MaxResponseHeaderBytes: limit})
		t.Cleanup(tr.CloseIdleConnections)
		ups := append(o.Upstreams, proxy.Upstream{Name: "app2", URL: o.Upstreams[0].URL})
		var err error
		pool, err = proxy.NewPool(proxy.PoolOptions{
			Upstreams: ups,
			Passive:   proxy.Passive{MaxFails: 1, MaxEjectionPercent: 100},
		}, tr, zerolog.Nop())
		require.NoError(t, err)
		t.Cleanup(func() { _ = pool.Close() })
		o.Pool, o.Transport = pool, tr
	})
	cookie, before := e.login(t)
	for _, filler := range []int{limit / 2, limit, 4 * limit} {
		e.setRespond(func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			w.Header().Set("X-Sidecar-Patch", `{"cart":[1]}`)
			w.Header().Set("X-Filler", strings.Repeat("f", filler))
			_, _ = io.WriteString(w, "page")
		})
		hits.Store(0)
		resp := e.do(cookie, nil)
		assert.Equal(t, int64(1), hits.Load(), "filler %d: never retried", filler)
		if filler < limit {
			assert.Equal(t, http.StatusOK, resp.StatusCode, "filler %d: within the cap", filler)
			e.setRespond(nil)
			e.do(cookie, nil)
			before = e.seen().claims
			continue
		}
		assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "filler %d: over the cap", filler)
		line := logLine(t, e.logs.String(), resp.Header.Get("X-Request-Id"))
		assert.Contains(t, line, `"error_kind":"app_protocol"`)
		assert.Contains(t, line, "response headers too large")
		e.assertUnchanged(t, cookie, before)
	}
	for _, s := range pool.States() {
		assert.Equal(t, "up", s.State, "%s is not ejected", s.Name)
		assert.Zero(t, s.Failures, "%s: oversized headers are not an upstream failure", s.Name)
	}
}
