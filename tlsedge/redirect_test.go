package tlsedge_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/tlsedge"
)

func TestRedirect(t *testing.T) {
	tests := []struct {
		name, method, target, host string
		port                       int
		want                       string
	}{
		{"path and query kept", "GET", "/a/b?x=1&y=%2F", "app.example.com", 443, "https://app.example.com/a/b?x=1&y=%2F"},
		{"port of the request dropped", "GET", "/", "app.example.com:80", 0, "https://app.example.com/"},
		{"https port added", "GET", "/p", "app.example.com:8080", 8443, "https://app.example.com:8443/p"},
		{"POST keeps its method (308)", "POST", "/form", "app.example.com", 443, "https://app.example.com/form"},
		{"escaped path stays escaped", "GET", "/a%20b/%2e%2e", "app.example.com", 443, "https://app.example.com/a%20b/%2e%2e"},
		{"IPv6 literal", "GET", "/", "[2001:db8::1]:80", 0, "https://[2001:db8::1]/"},
		{"IPv6 literal with port", "GET", "/", "[2001:db8::1]:80", 8443, "https://[2001:db8::1]:8443/"},
		{"absolute-form request", "GET", "http://app.example.com/x?q", "app.example.com", 443, "https://app.example.com/x?q"},
		{"OPTIONS * goes to /", "OPTIONS", "*", "app.example.com", 8443, "https://app.example.com:8443/"},
		{"a path like a host stays a path", "GET", "//evil.example/x", "app.example.com", 443, "https://app.example.com//evil.example/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader("body"))
			r.Host = tt.host
			w := httptest.NewRecorder()
			tlsedge.Redirect{Port: tt.port}.ServeHTTP(w, r)
			assert.Equal(t, http.StatusPermanentRedirect, w.Code)
			assert.Equal(t, tt.want, w.Header().Get("Location"))
		})
	}
}

// TestRedirectOverTheWire sends a raw request, for what httptest cannot
// build: no Host at all.
func TestRedirectOverTheWire(t *testing.T) {
	srv := httptest.NewServer(tlsedge.Redirect{Port: 8443})
	t.Cleanup(srv.Close)
	send := func(req string) *http.Response {
		t.Helper()
		conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 10*time.Second)
		require.NoError(t, err)
		t.Cleanup(func() { _ = conn.Close() })
		require.NoError(t, conn.SetDeadline(time.Now().Add(30*time.Second)))
		_, err = fmt.Fprint(conn, req)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		require.NoError(t, err)
		return resp
	}

	resp := send("GET /x HTTP/1.0\r\n\r\n")
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "HTTP/1.0 without Host")
	assert.Empty(t, resp.Header.Get("Location"))
}

func TestHSTS(t *testing.T) {
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/own" {
			w.Header().Add("Strict-Transport-Security", "max-age=1")
		}
	})
	h := tlsedge.HSTS(app, 365*24*time.Hour+500*time.Millisecond)
	for path, want := range map[string][]string{
		"/":    {"max-age=31536000"},
		"/own": {"max-age=31536000", "max-age=1"}, // Sidecar's first: the one a browser uses
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		assert.Equal(t, want, w.Header().Values("Strict-Transport-Security"), path)
	}
}
