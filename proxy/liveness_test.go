package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stallConn holds back the error (the app's FIN) that ends a Read until
// release is closed, like a transport reader goroutine that a busy machine
// has not scheduled yet; sawEOF is closed once the error has arrived.
type stallConn struct {
	*net.TCPConn
	sawEOF  chan struct{}
	release <-chan struct{}
	once    sync.Once
	// closed is closed by the first Close: the transport dropped the
	// connection (or the test ended).
	closed    chan struct{}
	closeOnce sync.Once
}

func (c *stallConn) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return c.TCPConn.Close()
}

func (c *stallConn) Read(p []byte) (int, error) {
	n, err := c.TCPConn.Read(p)
	if err != nil {
		c.once.Do(func() { close(c.sawEOF) })
		<-c.release
	}
	return n, err
}

// bodyApp is an app that records the body of every request it handles.
type bodyApp struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
}

func newBodyApp(t *testing.T) *bodyApp {
	a := &bodyApp{}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		a.bodies = append(a.bodies, string(b))
		a.mu.Unlock()
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(a.Close)
	return a
}

func (a *bodyApp) got() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.bodies...)
}

// TestPOSTOnConnectionAppClosedIsNotLost pins issue 8 item 4: a POST
// written on an idle keep-alive connection that the app had already closed
// (its FIN queued, the transport's reader not yet run) was lost and
// answered 502, because it looks like an app that read it and crashed. The
// first write now peeks at the socket, finds the FIN, writes nothing, and
// the transport sends the POST on a fresh connection: it reaches the app
// exactly once.
func TestPOSTOnConnectionAppClosedIsNotLost(t *testing.T) {
	app := newBodyApp(t)

	release := make(chan struct{})
	defer close(release)
	conns := make(chan *stallConn, 8)
	var d net.Dialer
	tr := &http.Transport{DialContext: dialLive(func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		sc := &stallConn{TCPConn: c.(*net.TCPConn), sawEOF: make(chan struct{}), release: release, closed: make(chan struct{})}
		conns <- sc
		return sc, nil
	})}
	defer tr.CloseIdleConnections()
	pool, err := NewPool(PoolOptions{Upstreams: []Upstream{{Name: "app", URL: mustParse(t, app.URL)}}}, tr, zerolog.Nop())
	require.NoError(t, err)
	defer pool.Close()
	pt := &poolTransport{pool: pool, next: tr}

	post := func(body string) (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "http://sidecar/set", strings.NewReader(body))
		req.RequestURI = ""
		resp, err := pt.RoundTrip(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode, nil
	}

	// A POST leaves its connection idle in the transport's pool, unless a
	// busy machine makes Go drop it (it does when the write's result takes
	// over 50ms to arrive): then warm up again.
	var warm []string
	for idle := false; !idle; {
		require.Less(t, len(warm), 20, "the transport never kept a connection idle")
		warm = append(warm, fmt.Sprintf("warm-%d", len(warm)+1))
		status, err := post(warm[len(warm)-1])
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, status)
		c := <-conns
		app.CloseClientConnections() // the app closes its idle keep-alive connection
		select {
		case <-c.sawEOF: // the FIN is here; the transport does not know yet
			idle = true
		case <-c.closed: // dropped by the transport: not in the pool
		case <-time.After(waitTimeout):
			t.Fatal("the app's FIN never arrived")
		}
	}

	status, err := post("second")
	require.NoError(t, err, "the POST must not be lost on the connection the app closed")
	assert.Equal(t, http.StatusOK, status)
	select {
	case <-conns: // it went on a fresh connection
	default:
		t.Error("the POST did not go on a fresh connection")
	}
	assert.Equal(t, append(warm, "second"), app.got(), "each POST reached the app exactly once")
}

// TestLiveConnPeek checks the peek's three answers on real sockets: an
// open, quiet connection is written to; one the app closed, or on which it
// sent bytes nobody asked for, fails the armed write with nothing written;
// an unarmed write is never checked.
func TestLiveConnPeek(t *testing.T) {
	for _, tc := range []struct {
		name    string
		app     func(net.Conn) // what the app does with its end
		arm     bool
		wantErr bool
	}{
		{"open and quiet", nil, true, false},
		{"closed by the app", func(c net.Conn) { _ = c.Close() }, true, true},
		{"unsolicited bytes", func(c net.Conn) { _, _ = io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\n\r\n") }, true, true},
		{"closed but not armed", func(c net.Conn) { _ = c.Close() }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			accepted := make(chan net.Conn, 1)
			go func() { // exits after one accept (or when ln closes)
				c, err := ln.Accept()
				if err == nil {
					accepted <- c
				}
			}()
			var d net.Dialer
			c, err := dialLive(d.DialContext)(context.Background(), "tcp", ln.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			lc, ok := c.(*liveConn)
			require.True(t, ok, "a TCP connection is wrapped")
			srv := <-accepted
			defer srv.Close()
			if tc.app != nil {
				tc.app(srv)
				require.Eventually(t, lc.closedByApp, waitTimeout, time.Millisecond, "what the app did reaches this socket")
			}
			if tc.arm {
				lc.armed.Store(true)
			}
			n, err := c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
			if tc.wantErr {
				assert.True(t, errors.Is(err, errAppClosedConn), "got %v", err)
				assert.Zero(t, n)
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, 18, n)
		})
	}
}

// BenchmarkLiveConnPeek is what the check costs each request on a reused
// keep-alive connection: one non-blocking recvfrom on an open socket.
func BenchmarkLiveConnPeek(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	defer ln.Close()
	go func() { // exits after one accept (or when ln closes)
		if c, err := ln.Accept(); err == nil {
			b.Cleanup(func() { _ = c.Close() })
		}
	}()
	var d net.Dialer
	c, err := dialLive(d.DialContext)(context.Background(), "tcp", ln.Addr().String())
	require.NoError(b, err)
	defer c.Close()
	lc := c.(*liveConn)
	b.ReportAllocs()
	for b.Loop() {
		if lc.closedByApp() {
			b.Fatal("an open connection looks closed")
		}
	}
}

// TestPOSTNeverSentIsRetried pins the second half of issue 8 item 4,
// found by the rolling-restart benchmark: a POST that failed before any
// byte of it reached the socket was answered 502, because httptrace's
// WroteRequest fires once the request is in the transport's buffer, before
// the flush that fails, and Sidecar took that for "sent". The benchmark
// hit it when the app's FIN reached Go's reader between the POST taking a
// keep-alive connection and writing on it (Go then reports "server closed
// idle connection"); an app that closes its listener with connections
// still in its accept queue does it deterministically: the kernel resets
// them, and the first write on one fails with nothing written. Such a POST
// is now retried on another upstream and reaches an app exactly once.
func TestPOSTNeverSentIsRetried(t *testing.T) {
	app := newBodyApp(t)
	// The closing app: it never accepts, and closes its listener once
	// Sidecar's connection sits in its accept queue.
	closing, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer closing.Close()

	var d net.Dialer
	var triedClosing atomic.Bool
	tr := &http.Transport{DialContext: dialLive(func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil || addr != closing.Addr().String() {
			return c, err
		}
		triedClosing.Store(true)
		_ = closing.Close() // the kernel resets the queued connection
		raw, err := c.(*net.TCPConn).SyscallConn()
		require.NoError(t, err)
		var buf [1]byte
		require.Eventually(t, func() bool {
			reset := false
			_ = raw.Control(func(fd uintptr) { reset = peekClosed(int(fd), buf[:]) })
			return reset
		}, waitTimeout, time.Millisecond, "the reset reaches Sidecar's socket")
		return c, nil
	})}
	defer tr.CloseIdleConnections()
	pool, err := NewPool(PoolOptions{
		Upstreams: []Upstream{{Name: "closing", URL: mustParse(t, "http://"+closing.Addr().String())}, {Name: "app", URL: mustParse(t, app.URL)}},
	}, tr, zerolog.Nop())
	require.NoError(t, err)
	defer pool.Close()
	pt := &poolTransport{pool: pool, next: tr}

	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "http://sidecar/set", strings.NewReader("once"))
	req.RequestURI = ""
	resp, err := pt.RoundTrip(req)
	require.NoError(t, err, "no byte of the POST reached the closing app: it must be retried")
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, []string{"once"}, app.got(), "the POST reached the other app exactly once")
	assert.True(t, triedClosing.Load(), "round robin tried the closing app first")
}

func mustParse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

// TestOnlyRequestsTheTransportWouldNotResendAreChecked pins where the
// check runs: on a reused connection, before a POST, but not before a
// GET, nor before a request carrying an Idempotency-Key with a body that
// can be had again. net/http's transport resends those itself on a fresh
// connection when the app closed the one they got, so the system call
// would only slow every read.
func TestOnlyRequestsTheTransportWouldNotResendAreChecked(t *testing.T) {
	app := newBodyApp(t)
	var d net.Dialer
	tr := &http.Transport{DialContext: dialLive(d.DialContext)}
	defer tr.CloseIdleConnections()
	pool, err := NewPool(PoolOptions{Upstreams: []Upstream{{Name: "app", URL: mustParse(t, app.URL)}}}, tr, zerolog.Nop())
	require.NoError(t, err)
	defer pool.Close()
	pt := &poolTransport{pool: pool, next: tr}

	var peeks atomic.Int32
	var conn *liveConn
	send := func(method, body string, hdr http.Header) (reused bool) {
		t.Helper()
		var got httptrace.GotConnInfo
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { got = i }})
		var rd io.Reader = http.NoBody // as a server hands over a request without one
		if body != "" {
			rd = strings.NewReader(body)
		}
		req := httptest.NewRequestWithContext(ctx, method, "http://sidecar/x", rd)
		req.RequestURI = ""
		for k, v := range hdr {
			req.Header[k] = v
		}
		resp, err := pt.RoundTrip(req)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		require.NoError(t, resp.Body.Close())
		require.Equal(t, http.StatusOK, resp.StatusCode)
		lc, ok := asLiveConn(got.Conn)
		require.True(t, ok, "the transport's connections are liveConns")
		if conn == nil { // count the checks made on it from now on
			conn = lc
			peek := lc.peek
			lc.peek = func(fd uintptr) { peeks.Add(1); peek(fd) }
		}
		return got.Reused && lc == conn
	}

	send(http.MethodGet, "", nil)
	for _, tc := range []struct {
		method, body string
		hdr          http.Header
		checked      bool
	}{
		{http.MethodGet, "", nil, false},
		{http.MethodHead, "", nil, false},
		{http.MethodPost, "a=1", nil, true},
		{http.MethodPut, "a=2", nil, true},
		{http.MethodPost, "a=3", http.Header{"Idempotency-Key": {"k1"}}, false},
		{http.MethodDelete, "", nil, true},
	} {
		before := peeks.Load()
		if !send(tc.method, tc.body, tc.hdr) {
			// Go dropped the idle connection (it does when a write's result
			// is slow to arrive on a busy machine): the check cannot run.
			conn = nil
			send(http.MethodGet, "", nil)
			require.True(t, send(tc.method, tc.body, tc.hdr), "%s on a reused connection", tc.method)
			before = 0
		}
		want := int32(0)
		if tc.checked {
			want = 1
		}
		assert.Equal(t, want, peeks.Load()-before, "%s %v: checks made", tc.method, tc.hdr)
	}
}

func TestTransportResends(t *testing.T) {
	get := func() (io.ReadCloser, error) { return http.NoBody, nil }
	for _, tc := range []struct {
		name string
		req  *http.Request
		want bool
	}{
		{"GET, no body", &http.Request{Method: http.MethodGet, Header: http.Header{}}, true},
		{"GET, NoBody", &http.Request{Method: http.MethodGet, Body: http.NoBody, Header: http.Header{}}, true},
		{"GET, a body streamed", &http.Request{Method: http.MethodGet, Body: io.NopCloser(strings.NewReader("x")), Header: http.Header{}}, false},
		{"GET, a body buffered", &http.Request{Method: http.MethodGet, Body: io.NopCloser(strings.NewReader("x")), GetBody: get, Header: http.Header{}}, true},
		{"POST", &http.Request{Method: http.MethodPost, Body: io.NopCloser(strings.NewReader("x")), GetBody: get, Header: http.Header{}}, false},
		{"POST with an Idempotency-Key", &http.Request{Method: http.MethodPost, Body: io.NopCloser(strings.NewReader("x")), GetBody: get, Header: http.Header{"Idempotency-Key": {"k"}}}, true},
		{"POST with an Idempotency-Key, streamed", &http.Request{Method: http.MethodPost, Body: io.NopCloser(strings.NewReader("x")), Header: http.Header{"Idempotency-Key": {"k"}}}, false},
	} {
		assert.Equal(t, tc.want, transportResends(tc.req), tc.name)
	}
}
