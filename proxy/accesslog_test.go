package proxy_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// combinedLine is the combined log format: client, ident, user, [time],
// "request", status, bytes, "referer", "user agent".
var combinedLine = regexp.MustCompile(`^(\S+) (-) (-) \[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "([^"]*)" (\d{3}) (\d+|-) "([^"]*)" "([^"]*)"$`)

// combinedEnv is a proxy whose access log is in the combined format,
// written to the returned buffer.
func combinedEnv(t *testing.T, format proxy.AccessLogFormat, mod func(*proxy.Options)) (*env, *logtest.Buffer) {
	t.Helper()
	var out logtest.Buffer
	e := newEnv(t, func(o *proxy.Options) {
		o.AccessLog = proxy.AccessLog{Format: format, Out: &out}
		if mod != nil {
			mod(o)
		}
	})
	return e, &out
}

func TestCombinedAccessLog(t *testing.T) {
	e, out := combinedEnv(t, proxy.AccessCombined, func(o *proxy.Options) { o.TrustedProxies = trusted(t, "127.0.0.1") })
	e.setRespond(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Sidecar-Patch", `{"user":"ann"}`)
		w.Header().Set("X-Sidecar-Principal", "ann")
		_, _ = w.Write([]byte("0123456789"))
	})
	resp := e.do("", map[string]string{
		"Referer":         "https://joe:pw@shop.example/reset?token=s3cret#frag",
		"User-Agent":      `Mozilla/5.0 "quoted" \ é` + "\tx",
		"X-Forwarded-For": "198.51.100.7",
		"Authorization":   "Bearer top-secret-token",
	})
	_ = body(t, resp)
	c := sessionCookie(t, resp)
	require.NotNil(t, c)
	resp = e.do(c.Value, nil)
	_ = body(t, resp)

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 2, out.String())
	m := combinedLine.FindStringSubmatch(lines[0])
	require.NotNil(t, m, "not the combined format: %q", lines[0])
	assert.Equal(t, "198.51.100.7", m[1], "the client a trusted proxy forwarded")
	assert.Equal(t, "-", m[3], "never the principal")
	assert.Equal(t, "GET /page HTTP/1.1", m[5], "no query string")
	assert.Equal(t, "200", m[6])
	assert.Equal(t, "10", m[7])
	assert.Equal(t, "https://shop.example/reset", m[8], "the referer without user info, query or fragment")
	assert.Equal(t, `Mozilla/5.0 \x22quoted\x22 \x5C \xC3\xA9\x09x`, m[9])

	m = combinedLine.FindStringSubmatch(lines[1])
	require.NotNil(t, m, "not the combined format: %q", lines[1])
	assert.Equal(t, "127.0.0.1", m[1])
	assert.Equal(t, "-", m[8], "no referer")
	for _, secret := range []string{c.Value, "s3cret", "top-secret-token", "pw@", "ann", "q=1"} {
		assert.NotContains(t, out.String(), secret)
	}
	assert.Empty(t, e.logs.String(), "successes go to the combined log only")
}

// TestCombinedAccessLogFailure: a failed request gets its combined line
// and, in the JSON log, the event with its cause and request id.
func TestCombinedAccessLogFailure(t *testing.T) {
	for _, format := range []proxy.AccessLogFormat{proxy.AccessCombined, proxy.AccessOff} {
		t.Run(string(format), func(t *testing.T) {
			e, out := combinedEnv(t, format, nil)
			e.setRespond(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Sidecar-Patch", `{"a":1}`) })
			c := sessionCookie(t, e.do("", nil))
			require.NotNil(t, c)
			e.store.down.Store(true)
			resp := e.do(c.Value, nil)
			require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)

			line := logLine(t, e.logs.String(), resp.Header.Get("X-Request-Id"))
			assert.Contains(t, line, `"level":"error"`)
			assert.Contains(t, line, `"error_kind":"store_unavailable"`)
			assert.Equal(t, 1, strings.Count(e.logs.String(), "\n"), "only the failure is in the JSON log")
			if format == proxy.AccessOff {
				assert.Empty(t, out.String())
				return
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			require.Len(t, lines, 2)
			assert.Contains(t, lines[1], `"GET /page HTTP/1.1" 503 `)
		})
	}
}

func TestAccessLogOptions(t *testing.T) {
	for name, tc := range map[string]struct {
		a    proxy.AccessLog
		want string
	}{
		"combined without Out": {proxy.AccessLog{Format: proxy.AccessCombined}, "Options.AccessLog.Out is required"},
		"unknown format":       {proxy.AccessLog{Format: "common"}, `"common" is not one of json, combined, off`},
	} {
		t.Run(name, func(t *testing.T) {
			signer, err := sessions.NewSigner([][]byte{[]byte(cookieSecret)})
			require.NoError(t, err)
			m, err := sessions.NewManager(sessions.Options{Store: memory.New(memory.Options{}), Signer: signer})
			require.NoError(t, err)
			hdr, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte(headerSecret)})
			require.NoError(t, err)
			_, err = proxy.New(proxy.Options{Manager: m, Header: hdr, AccessLog: tc.a})
			assert.ErrorContains(t, err, tc.want)
		})
	}
}
