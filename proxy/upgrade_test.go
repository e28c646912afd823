package proxy_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/proxy"
)

// TestOnlyAllowedUpgradesPass pins issue 10 item 6: any Upgrade was
// tunnelled, so an h2c upgrade to an app that speaks HTTP after the 101
// let requests inside the tunnel reach it with a forged X-Sidecar-Session
// (h2c smuggling). Only websocket passes by default; h2c and anything else
// is stripped and the request forwarded as plain HTTP, and an app that
// switches anyway gets no tunnel (502).
func TestOnlyAllowedUpgradesPass(t *testing.T) {
	seen := make(chan string, 8)
	app := newUpstreamApp(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Upgrade") + "|" + r.Header.Get("Connection")
		if r.URL.Path == "/switch" { // an app that switches whatever was asked
			w.Header().Set("Connection", "Upgrade")
			w.Header().Set("Upgrade", "h2c")
			w.WriteHeader(http.StatusSwitchingProtocols)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	go func() { // the app's bodies are not looked at here
		for {
			select {
			case <-app.bodies:
			case <-t.Context().Done():
				return
			}
		}
	}()
	srv, _ := poolProxyWith(t, proxy.PoolOptions{Upstreams: []proxy.Upstream{{Name: "a", URL: mustURL(t, app.URL)}}})
	addr := strings.TrimPrefix(srv.URL, "http://")

	// raw sends a GET with Upgrade up and returns the status.
	raw := func(path, up string) int {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(waitTimeout)))
		_, err = fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: app\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: %s\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n", path, up)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	for _, up := range []string{"h2c", "H2C", "foo/1.0"} {
		assert.Equal(t, http.StatusOK, raw("/", up), "Upgrade: %s goes on as plain HTTP", up)
		assert.Equal(t, "|", <-seen, "Upgrade: %s never reaches the app", up)
	}
	assert.Equal(t, http.StatusBadGateway, raw("/switch", "h2c"), "an app that switches anyway gets no tunnel")
	assert.Equal(t, "|", <-seen)

	assert.Equal(t, http.StatusOK, raw("/", "websocket"), "websocket is allowed")
	assert.Equal(t, "websocket|Upgrade", <-seen)
}
