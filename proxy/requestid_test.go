package proxy_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/proxy"
)

var generatedID = regexp.MustCompile(`^[0-9a-f]{32}$`)

// TestRequestIDFromTrustedProxy: a trusted proxy's valid X-Request-Id is
// the request's id everywhere (the app's header, the jti, the response,
// the log); anyone else's, or an invalid one, is replaced by a new id.
func TestRequestIDFromTrustedProxy(t *testing.T) {
	longest := strings.Repeat("a", proxy.MaxRequestIDLen)
	tests := []struct {
		name     string
		trust    []string
		sent     []string // X-Request-Id values sent; nil: none
		keep     bool     // the sent id is the request's
		replaced bool     // logged as request_id_replaced
	}{
		{"trusted, uuid", []string{"127.0.0.1"}, []string{"0f8fad5b-d9cb-469f-a165-70867728950e"}, true, false},
		{"trusted, every allowed byte", []string{"127.0.0.1"}, []string{"Az09._:-"}, true, false},
		{"trusted, longest", []string{"127.0.0.1"}, []string{longest}, true, false},
		{"trusted, none sent", []string{"127.0.0.1"}, nil, false, false},
		{"trusted, too long", []string{"127.0.0.1"}, []string{longest + "a"}, false, true},
		{"trusted, space", []string{"127.0.0.1"}, []string{"a b"}, false, true},
		{"trusted, quote", []string{"127.0.0.1"}, []string{`a"b`}, false, true},
		{"trusted, slash", []string{"127.0.0.1"}, []string{"a/b"}, false, true},
		{"trusted, non-ASCII", []string{"127.0.0.1"}, []string{"é"}, false, true},
		{"trusted, two values", []string{"127.0.0.1"}, []string{"one", "two"}, false, true},
		{"untrusted", []string{"10.0.0.0/8"}, []string{"chosen-by-the-client"}, false, false},
		{"nobody trusted", nil, []string{"chosen-by-the-client"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *proxy.Options) { o.TrustedProxies = trusted(t, tt.trust...) })
			req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/page", nil)
			require.NoError(t, err)
			if tt.sent != nil {
				req.Header["X-Request-Id"] = tt.sent
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_ = body(t, resp)
			require.Equal(t, http.StatusOK, resp.StatusCode)

			s := e.seen()
			id := s.header.Get("X-Request-Id")
			assert.Len(t, s.header.Values("X-Request-Id"), 1, "the app gets one id")
			if tt.keep {
				assert.Equal(t, tt.sent[0], id)
			} else {
				assert.Regexp(t, generatedID, id)
			}
			assert.Equal(t, id, s.claims.ID, "the jti is the request id")
			assert.Equal(t, id, resp.Header.Get("X-Request-Id"), "echoed to the client")
			line := logLine(t, e.logs.String(), id)
			assert.Equal(t, tt.replaced, strings.Contains(line, `"request_id_replaced":true`), line)
		})
	}
}

// TestRequestIDEchoedOnErrors: an answer Sidecar writes itself (here a
// 503 while the store is down) carries the trusted proxy's id too.
func TestRequestIDEchoedOnErrors(t *testing.T) {
	e := newEnv(t, func(o *proxy.Options) { o.TrustedProxies = trusted(t, "127.0.0.1") })
	e.setRespond(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Sidecar-Patch", `{"a":1}`) })
	c := sessionCookie(t, e.do("", nil))
	require.NotNil(t, c)
	e.store.down.Store(true)
	resp := e.do(c.Value, map[string]string{"X-Request-Id": "lb-4711"})
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Equal(t, "lb-4711", resp.Header.Get("X-Request-Id"))
	assert.Contains(t, logLine(t, e.logs.String(), "lb-4711"), `"status":503`)
}

// TestAppCannotOverrideRequestID: the response's X-Request-Id is the one
// Sidecar logged, whatever the app answers.
func TestAppCannotOverrideRequestID(t *testing.T) {
	e := newEnv(t, nil)
	e.setRespond(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Request-Id", "from-the-app") })
	resp := e.do("", nil)
	assert.Equal(t, e.seen().header.Get("X-Request-Id"), resp.Header.Get("X-Request-Id"))
	assert.Len(t, resp.Header.Values("X-Request-Id"), 1)
}
