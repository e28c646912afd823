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

// rawPost writes req on a fresh TCP connection to addr, closes its write
// side when closeWrite is set, and returns the status Sidecar answered, or
// 0 when it closed the connection without one.
func rawPost(t *testing.T, addr, req string, closeWrite bool) int {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(waitTimeout)))
	_, err = io.WriteString(c, req)
	require.NoError(t, err)
	if closeWrite {
		require.NoError(t, c.(*net.TCPConn).CloseWrite())
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// chunked is a chunked body of n bytes in 4 KiB chunks, left open (no
// last chunk) so the caller can append a malformed one.
func chunked(n int) string {
	var b strings.Builder
	for n > 0 {
		k := min(n, 4096)
		fmt.Fprintf(&b, "%x\r\n%s\r\n", k, strings.Repeat("x", k))
		n -= k
	}
	return b.String()
}

// TestBrokenClientBodyIsNotAnUpstreamFault pins issue 8: POSTs with a
// chunked body larger than the retry buffer followed by a malformed chunk
// got 502, counted as upstream failures and ejected the upstream for
// everyone. A broken body is the client's fault: 400, and the upstream's
// failure count stays 0.
func TestBrokenClientBodyIsNotAnUpstreamFault(t *testing.T) {
	const buffer = 8 << 10
	head := "POST /upload HTTP/1.1\r\nHost: app\r\n"
	for name, tc := range map[string]struct {
		req        string
		closeWrite bool
		want       []int // acceptable answers
	}{
		"malformed chunk over the retry buffer": {
			req: head + "Transfer-Encoding: chunked\r\n\r\n" + chunked(4*buffer) + "zz\r\n", want: []int{http.StatusBadRequest}},
		"malformed chunk within the retry buffer": {
			req: head + "Transfer-Encoding: chunked\r\n\r\n" + chunked(buffer/2) + "zz\r\n", want: []int{http.StatusBadRequest}},
		// A client that ends its body early and half-closes still reads
		// the answer: 400 (it got an empty 200 from Go's server when the
		// proxy logged 499 and wrote nothing, issue 10).
		"body shorter than Content-Length, over the retry buffer": {
			req: head + fmt.Sprintf("Content-Length: %d\r\n\r\n", 4*buffer) + strings.Repeat("x", 2*buffer), closeWrite: true,
			want: []int{http.StatusBadRequest}},
		"body shorter than Content-Length, buffered": {
			req: head + "Content-Length: 100\r\n\r\n" + strings.Repeat("x", 10), closeWrite: true,
			want: []int{http.StatusBadRequest}},
	} {
		t.Run(name, func(t *testing.T) {
			a := newUpstreamApp(t, okHandler)
			b := newUpstreamApp(t, okHandler)
			srv, pool := poolProxyWith(t, proxy.PoolOptions{
				Upstreams: []proxy.Upstream{{Name: "a", URL: mustURL(t, a.URL)}, {Name: "b", URL: mustURL(t, b.URL)}},
				Passive:   proxy.Passive{MaxFails: 1, MaxEjectionPercent: 100},
				Retry:     proxy.RetryOptions{BufferBytes: buffer},
			})
			go func() { // the apps' bodies are not looked at here
				for {
					select {
					case <-a.bodies:
					case <-b.bodies:
					case <-t.Context().Done():
						return
					}
				}
			}()
			addr := strings.TrimPrefix(srv.URL, "http://")
			for i := range 20 {
				assert.Contains(t, tc.want, rawPost(t, addr, tc.req, tc.closeWrite), "broken request %d", i)
				resp, body := send(t, http.MethodGet, srv.URL+"/", "")
				assert.Equal(t, http.StatusOK, resp.StatusCode, "another client, after broken request %d", i)
				assert.Equal(t, "ok", body)
			}
			for _, s := range pool.States() {
				assert.Equal(t, "up", s.State, "%s is never ejected", s.Name)
				assert.Zero(t, s.Failures, "%s: a client's broken body is not the upstream's failure", s.Name)
			}
		})
	}
}
