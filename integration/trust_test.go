package integration

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

// clientAddr is the address the tests' browser connects from: another
// loopback address than the load balancer's 127.0.0.1, so the app can
// tell the two apart. Linux routes all of 127.0.0.0/8 to the loopback
// interface.
const clientAddr = "127.0.0.2"

// newLoadBalancer starts a real TLS-terminating load balancer on
// 127.0.0.1 in front of target: an httputil.ReverseProxy that appends the
// client's address to the X-Forwarded-For it received, as nginx's
// $proxy_add_x_forwarded_for does, and sets X-Forwarded-Proto: https and
// X-Forwarded-Host.
func newLoadBalancer(t *testing.T, target string) *httptest.Server {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	lb := httptest.NewTLSServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(u)
		pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
		pr.SetXForwarded()
	}})
	t.Cleanup(lb.Close)
	return lb
}

// browser returns a client that connects from clientAddr and trusts the
// load balancer's certificate (when lb is not nil).
func browser(t *testing.T, lb *httptest.Server) *http.Client {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(clientAddr, "0"))
	if err != nil {
		t.Fatalf("the browser needs the address %s on the loopback interface (Linux has all of 127.0.0.0/8): %v", clientAddr, err)
	}
	_ = l.Close()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(clientAddr)}, Timeout: requestTimeout}
	tr := &http.Transport{DialContext: d.DialContext}
	if lb != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: lb.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: requestTimeout}
}

// TestBehindLoadBalancer is issue 10 item 3 with real parts: a browser
// on 127.0.0.2, a TLS-terminating load balancer on 127.0.0.1, Sidecar, an
// app. When server.trusted_proxies lists the balancer, the app sees the
// browser's address and https, and the cookie is Secure; when it does
// not, the app sees the balancer's address and http, the cookie is not
// Secure, and the browser's own X-Forwarded-For never reaches the app.
func TestBehindLoadBalancer(t *testing.T) {
	tests := []struct {
		name   string
		trust  config.TrustedProxies
		xff    string
		proto  string
		secure bool
	}{
		{"trusted", config.TrustedProxies{"127.0.0.1/32"}, clientAddr + ", 127.0.0.1", "https", true},
		{"not trusted", config.TrustedProxies{}, "127.0.0.1", "http", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := newApp(t, "app1")
			c := baseConfig(app.URL)
			c.Server.TrustedProxies = tt.trust
			_, base := startSidecar(t, c)
			lb := newLoadBalancer(t, base)

			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, lb.URL+"/set?k=a&v=1", nil)
			require.NoError(t, err)
			req.Header.Set("X-Forwarded-For", "6.6.6.6") // the browser lies; the balancer appends
			resp, err := browser(t, lb).Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			var view appView
			require.NoError(t, jsonDecode(resp, &view))

			h := http.Header(view.Headers)
			assert.Equal(t, []string{tt.xff}, h.Values("X-Forwarded-For"), "the app's X-Forwarded-For")
			assert.Equal(t, []string{tt.proto}, h.Values("X-Forwarded-Proto"))
			lbHost := strings.TrimPrefix(lb.URL, "https://")
			sidecarHost := strings.TrimPrefix(base, "http://")
			if tt.secure {
				assert.Equal(t, []string{lbHost}, h.Values("X-Forwarded-Host"), "the host the browser asked for")
				assert.Equal(t, []string{`for=` + clientAddr + `;host="` + lbHost + `";proto=https, for=127.0.0.1`}, h.Values("Forwarded"))
			} else {
				assert.Equal(t, []string{sidecarHost}, h.Values("X-Forwarded-Host"), "the host the balancer asked for")
				assert.Equal(t, []string{`for=127.0.0.1;host="` + sidecarHost + `";proto=http`}, h.Values("Forwarded"))
			}
			ck := setCookieFor(resp)
			require.NotNil(t, ck, "a session cookie")
			assert.Equal(t, tt.secure, ck.Secure, "Secure under cookie_secure: auto")
		})
	}
}

// TestPHPSeesTheForwardedFor: what Sidecar computes is what a PHP app
// reads as $_SERVER['HTTP_X_FORWARDED_FOR'], for a trusted and an
// untrusted load balancer and a browser talking to Sidecar directly,
// even when the browser also sends X_Forwarded_For and X-Forwarded-For.
func TestPHPSeesTheForwardedFor(t *testing.T) {
	addr := startServerVars(t)

	tests := []struct {
		name   string
		trust  config.TrustedProxies
		viaLB  bool
		want   map[string]string
		wantFw string
	}{
		{"trusted balancer", config.TrustedProxies{"127.0.0.1"}, true, map[string]string{
			"HTTP_X_FORWARDED_FOR":   clientAddr + ", 127.0.0.1",
			"HTTP_X_FORWARDED_PROTO": "https",
		}, "for=" + clientAddr + ";host=\"LB\";proto=https, for=127.0.0.1"},
		{"untrusted balancer", nil, true, map[string]string{
			"HTTP_X_FORWARDED_FOR":   "127.0.0.1",
			"HTTP_X_FORWARDED_PROTO": "http",
		}, "for=127.0.0.1;host=\"SIDECAR\";proto=http"},
		{"browser talking to Sidecar", config.TrustedProxies{"127.0.0.1"}, false, map[string]string{
			"HTTP_X_FORWARDED_FOR":   clientAddr,
			"HTTP_X_FORWARDED_PROTO": "http",
		}, "for=" + clientAddr + ";host=\"SIDECAR\";proto=http"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := baseConfig("http://" + addr)
			c.Server.TrustedProxies = tt.trust
			_, base := startSidecar(t, c)
			sidecarHost := strings.TrimPrefix(base, "http://")
			target, wantHost := base, sidecarHost
			var lb *httptest.Server
			if tt.viaLB {
				lb = newLoadBalancer(t, base)
				target = lb.URL
				if tt.trust != nil {
					wantHost = strings.TrimPrefix(lb.URL, "https://")
				}
			}

			ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, target+"/index.php", nil)
			require.NoError(t, err)
			req.Header["X_Forwarded_For"] = []string{"7.7.7.7"} // as written: Go does not respell it
			req.Header["X-Forwarded-For"] = []string{"6.6.6.6"}
			req.Header["X-Forwarded-Proto"] = []string{"https"}
			resp, err := browser(t, lb).Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			var got map[string]string
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
			delete(got, "HTTP_X_REQUEST_ID")

			want := map[string]string{"HTTP_X_FORWARDED_HOST": wantHost}
			for k, v := range tt.want {
				want[k] = v
			}
			lbHost := ""
			if lb != nil {
				lbHost = strings.TrimPrefix(lb.URL, "https://")
			}
			want["HTTP_FORWARDED"] = strings.NewReplacer("LB", lbHost, "SIDECAR", sidecarHost).Replace(tt.wantFw)
			assert.Equal(t, want, got, "PHP sees exactly what Sidecar computed")
		})
	}
}
