package server_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/server"
)

// waitBound is how long a test waits for something that should happen at
// once: generous, for a busy machine.
const waitBound = 20 * time.Second

func text(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) })
}

// start runs a Server for opts on :0 ports and shuts it down at the end.
func start(t *testing.T, opts server.Options) *server.Server {
	t.Helper()
	if opts.Listen == "" {
		opts.Listen = "127.0.0.1:0"
	}
	opts.Logger = zerolog.New(zerolog.NewTestWriter(t))
	s := server.New(opts)
	require.NoError(t, s.Run(t.Context()))
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	require.NoError(t, err, "GET %s", url)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func TestServesProxyAndSideServers(t *testing.T) {
	s := start(t, server.Options{
		Handler: text("proxy"),
		Admin:   server.Side{Listen: "127.0.0.1:0", Handler: text("admin")},
		Locks:   server.Side{Listen: "127.0.0.1:0", Handler: text("locks")},
		// PlainHTTP: the plain-HTTP listener next to a TLS proxy.
		PlainHTTP: server.Side{Listen: "127.0.0.1:0", Handler: text("plain")},
	})
	for addr, want := range map[string]string{s.Addr(): "proxy", s.AdminAddr(): "admin", s.LockServiceAddr(): "locks",
		s.PlainHTTPAddr(): "plain"} {
		_, body := get(t, http.DefaultClient, "http://"+addr+"/")
		assert.Equal(t, want, body, "answer on %s", addr)
	}
}

func TestSideServersOffByDefault(t *testing.T) {
	s := start(t, server.Options{Handler: text("proxy")})
	assert.Empty(t, s.AdminAddr())
	assert.Empty(t, s.LockServiceAddr())
	assert.Empty(t, s.PlainHTTPAddr())
}

func TestRunRequiresHandler(t *testing.T) {
	s := server.New(server.Options{Listen: "127.0.0.1:0"})
	require.Error(t, s.Run(t.Context()))
	assert.Empty(t, s.Addr(), "no address without a successful Run")
	assert.NoError(t, s.Shutdown(context.Background()))
}

func TestRunFailsClosesWhatItOpened(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	free, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	proxyAddr := free.Addr().String()
	require.NoError(t, free.Close())

	s := server.New(server.Options{
		Handler: text("proxy"), Listen: proxyAddr,
		Locks: server.Side{Listen: busy.Addr().String(), Handler: text("locks")},
	})
	err = s.Run(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "lock_service.listen", "the error names the setting")
	// The proxy's listener, opened before the side server failed, was
	// closed again: the address can be bound anew.
	ln, err := net.Listen("tcp", proxyAddr)
	require.NoError(t, err, "the proxy listener was left open after a failed Run")
	_ = ln.Close()
}

// TestShutdownFinishesInFlight: a request in flight when Shutdown starts
// is answered in full, and Shutdown returns only after it.
func TestShutdownFinishesInFlight(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	s := start(t, server.Options{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		close(entered)
		<-release
		_, _ = io.WriteString(w, "done")
	})})
	type answer struct {
		body string
		err  error
	}
	answers := make(chan answer, 1)
	go func() {
		resp, err := http.Get("http://" + s.Addr() + "/")
		if err != nil {
			answers <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		answers <- answer{string(b), err}
	}()
	<-entered
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while a request was in flight", err)
	case <-time.After(100 * time.Millisecond): // a look, not a bound: Shutdown must still be waiting
	}
	close(release)
	a := <-answers
	require.NoError(t, a.err)
	assert.Equal(t, "done", a.body)
	select {
	case err := <-shut:
		assert.NoError(t, err)
	case <-time.After(waitBound):
		t.Fatal("Shutdown did not return after the last request finished")
	}
}

// TestShutdownTimeoutCutsStuckRequests: past ShutdownTimeout, request
// contexts are cancelled and Shutdown returns.
func TestShutdownTimeoutCutsStuckRequests(t *testing.T) {
	entered, cancelled := make(chan struct{}), make(chan struct{})
	s := start(t, server.Options{
		ShutdownTimeout: 50 * time.Millisecond,
		Handler: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			close(entered)
			<-r.Context().Done()
			close(cancelled)
		}),
	})
	go func() {
		resp, err := http.Get("http://" + s.Addr() + "/")
		if err == nil {
			resp.Body.Close()
		}
	}()
	<-entered
	done := make(chan struct{})
	go func() { _ = s.Shutdown(context.Background()); close(done) }()
	for name, ch := range map[string]chan struct{}{"request context cancelled": cancelled, "Shutdown returned": done} {
		select {
		case <-ch:
		case <-time.After(waitBound):
			t.Fatalf("%s: not within %v of a 50ms shutdown timeout", name, waitBound)
		}
	}
}

// TestHandoverBetweenServers: a second Server with the same hand-over
// socket takes the listeners over; the first is told and drains.
func TestHandoverBetweenServers(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "handover.sock")
	old := start(t, server.Options{
		Handler: text("old"), HandoverSocket: sock,
		Admin:     server.Side{Listen: "127.0.0.1:0", Handler: text("old-admin")},
		PlainHTTP: server.Side{Listen: "127.0.0.1:0", Handler: text("old-plain")},
	})
	_, body := get(t, http.DefaultClient, "http://"+old.Addr()+"/")
	require.Equal(t, "old", body)

	next := start(t, server.Options{
		Handler: text("new"), HandoverSocket: sock, Listen: "127.0.0.1:1", // ignored: inherited
		Admin:     server.Side{Listen: "127.0.0.1:1", Handler: text("new-admin")},
		PlainHTTP: server.Side{Listen: "127.0.0.1:1", Handler: text("new-plain")},
	})
	assert.Equal(t, old.Addr(), next.Addr(), "the new server serves the inherited socket")
	assert.Equal(t, old.AdminAddr(), next.AdminAddr(), "the admin socket is inherited too")
	assert.Equal(t, old.PlainHTTPAddr(), next.PlainHTTPAddr(), "and the plain-HTTP one")
	select {
	case <-old.HandedOver():
	case <-time.After(waitBound):
		t.Fatal("the old server was not told it was handed over")
	}
	require.NoError(t, old.Shutdown(context.Background()))
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	_, body = get(t, client, "http://"+next.Addr()+"/")
	assert.Equal(t, "new", body)
	_, body = get(t, client, "http://"+next.AdminAddr()+"/")
	assert.Equal(t, "new-admin", body)
	_, body = get(t, client, "http://"+next.PlainHTTPAddr()+"/")
	assert.Equal(t, "new-plain", body)
}

// TestMaxHeaderBytes: net/http refuses a head past MaxHeaderBytes plus its
// own 4096 bytes of slack with 431 before the handler runs (the proxy
// enforces its exact limit below that). On a kept-alive connection what
// net/http read ahead of the next request slips past the count, so each
// request here has a connection of its own.
func TestMaxHeaderBytes(t *testing.T) {
	var reached atomic.Int64
	s := start(t, server.Options{MaxHeaderBytes: 1024, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		reached.Add(1)
	})})
	for pad, want := range map[int]int{2000: http.StatusOK, 1024 + 4096 + 1: http.StatusRequestHeaderFieldsTooLarge} {
		req, err := http.NewRequest(http.MethodGet, "http://"+s.Addr()+"/", nil)
		require.NoError(t, err)
		req.Header.Set("X-Pad", strings.Repeat("p", pad))
		req.Close = true
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, want, resp.StatusCode, "a %d-byte header", pad)
	}
	assert.Equal(t, int64(1), reached.Load())
}
