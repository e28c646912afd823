package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hoWait bounds every wait in these tests.
const hoWait = 10 * time.Second

// hoSockPath returns a socket path in a fresh short directory (unix socket
// paths are limited to ~108 bytes, which t.TempDir can exceed).
func hoSockPath(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "ho")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return filepath.Join(dir, "handover.sock")
}

func hoLog(t *testing.T) zerolog.Logger { return zerolog.New(zerolog.NewTestWriter(t)) }

// hoGate holds "/slow" requests until released.
type hoGate struct {
	startOnce, releaseOnce sync.Once
	started, release       chan struct{}
}

func newHoGate() *hoGate {
	return &hoGate{started: make(chan struct{}), release: make(chan struct{})}
}

func (g *hoGate) open() { g.releaseOnce.Do(func() { close(g.release) }) }

// hoHTTP is one process's HTTP server: "/" answers body, "/slow" answers
// body+"-slow" once its gate opens. It stops accepting and drains the way
// connTracker's doc says Main should.
type hoHTTP struct {
	srv      *http.Server
	ln       net.Listener
	conns    *connTracker
	served   chan struct{} // closed when Serve returns; the serving goroutine exits with it
	serveErr error         // Serve's result, set before served is closed
}

func startHoHTTP(t *testing.T, ln net.Listener, body string, gate *hoGate) *hoHTTP {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		gate.startOnce.Do(func() { close(gate.started) })
		select {
		case <-gate.release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, body+"-slow")
	})
	h := &hoHTTP{ln: ln, conns: newConnTracker(), served: make(chan struct{})}
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: hoWait, ConnState: h.conns.connState}
	go func() {
		defer close(h.served)
		h.serveErr = h.srv.Serve(ln)
	}()
	t.Cleanup(func() {
		gate.open()
		_ = h.srv.Close()
		<-h.served
	})
	return h
}

// stopAccepting is the release func Main should use.
func (h *hoHTTP) stopAccepting() {
	h.srv.SetKeepAlivesEnabled(false)
	_ = h.ln.Close()
	<-h.served
}

// drain is the graceful stop Main should use after stopAccepting.
func (h *hoHTTP) drain(ctx context.Context) error {
	if err := h.conns.wait(ctx); err != nil {
		return err
	}
	return h.srv.Shutdown(ctx)
}

// hoClient makes every request on a fresh TCP connection.
func hoClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: hoWait}
}

func hoGet(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = errors.New(resp.Status)
	}
	return string(b), err
}

func hoRecv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hoWait):
		require.FailNow(t, "timed out waiting for "+what)
		panic("unreachable")
	}
}

// hoOld is an old process: HTTP on 127.0.0.1:0 answering body, and a
// handover server on path whose release uses stopAccepting.
type hoOld struct {
	addr       string
	http       *hoHTTP
	gate       *hoGate
	stop       func() error
	released   atomic.Int32
	handedOver chan struct{}
}

func startHoOld(t *testing.T, path, body string, afterHandedOver func(*hoOld)) *hoOld {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	o := &hoOld{addr: ln.Addr().String(), gate: newHoGate(), handedOver: make(chan struct{})}
	o.http = startHoHTTP(t, ln, body, o.gate)
	o.stop, err = serveHandover(path, map[string]net.Listener{"http": ln},
		func() { o.released.Add(1); o.http.stopAccepting() },
		func() {
			close(o.handedOver)
			if afterHandedOver != nil {
				afterHandedOver(o)
			}
		},
		hoLog(t))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, o.stop()) })
	return o
}

// hoNew takes over from path and serves body on the inherited listener.
func hoNew(t *testing.T, ctx context.Context, path, body string) (*handoverClient, map[string]net.Listener) {
	t.Helper()
	lns, hc, err := takeOver(ctx, path)
	require.NoError(t, err)
	require.NotNil(t, hc)
	require.Len(t, lns, 1)
	require.Contains(t, lns, "http")
	startHoHTTP(t, lns["http"], body, newHoGate())
	return hc, lns
}

// hoHit is one request of the hammer: the phase when it started and
// ended, and what it got.
type hoHit struct {
	start, end int32
	body       string
	err        error
}

// hoHammer sends requests on fresh connections from several workers until
// stopped (at most hoHammerMax each, and hoWait*2 in all).
type hoHammer struct {
	phase   atomic.Int32
	stopCh  chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	hits    []hoHit
	stopped sync.Once
}

const hoHammerMax = 5000

func startHoHammer(t *testing.T, url string, workers int) *hoHammer {
	h := &hoHammer{stopCh: make(chan struct{})}
	deadline := time.Now().Add(2 * hoWait)
	for range workers {
		h.wg.Add(1)
		go func() { // exits on stop, after hoHammerMax requests, or at deadline
			defer h.wg.Done()
			c := hoClient()
			for i := 0; i < hoHammerMax && time.Now().Before(deadline); i++ {
				select {
				case <-h.stopCh:
					return
				default:
				}
				hit := hoHit{start: h.phase.Load()}
				hit.body, hit.err = hoGet(c, url)
				hit.end = h.phase.Load()
				h.mu.Lock()
				h.hits = append(h.hits, hit)
				h.mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() { h.finish() })
	return h
}

func (h *hoHammer) count(match func(hoHit) bool) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, hit := range h.hits {
		if match(hit) {
			n++
		}
	}
	return n
}

func (h *hoHammer) finish() []hoHit {
	h.stopped.Do(func() { close(h.stopCh) })
	h.wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.hits
}

func TestTakeOverNoOldProcess(t *testing.T) {
	path := hoSockPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), hoWait)
	defer cancel()
	start := time.Now()
	lns, hc, err := takeOver(ctx, path)
	require.NoError(t, err)
	assert.Nil(t, lns)
	assert.Nil(t, hc)
	assert.Less(t, time.Since(start), time.Second)
}

func TestHandoverFull(t *testing.T) {
	path := hoSockPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*hoWait)
	defer cancel()

	// The lead's Main drains in onHandedOver (which may block): so do we,
	// to see the slow request through it.
	drained := make(chan error, 1)
	a := startHoOld(t, path, "A", func(o *hoOld) { drained <- o.http.drain(ctx) })
	url := "http://" + a.addr

	slow := make(chan hoHit, 1)
	go func() { // exits when the gate opens (or at cleanup, which opens it)
		var hit hoHit
		hit.body, hit.err = hoGet(hoClient(), url+"/slow")
		slow <- hit
	}()
	hoRecv(t, a.gate.started, "the slow request to reach A")

	h := startHoHammer(t, url, 8)
	require.Eventually(t, func() bool { return h.count(func(x hoHit) bool { return x.body == "A" }) >= 20 },
		hoWait, time.Millisecond, "hammer gets answers from A")

	h.phase.Store(1)
	hc, lns := hoNew(t, ctx, path, "B")
	// Both processes accept on the one socket for a while: A's accept loop
	// is still running when release comes, the case connTracker handles.
	require.Eventually(t, func() bool { return h.count(func(x hoHit) bool { return x.body == "B" }) >= 20 },
		hoWait, time.Millisecond, "B answers while A still accepts")
	require.NoError(t, hc.ready(ctx))
	h.phase.Store(2)
	assert.EqualValues(t, 1, a.released.Load())
	hoRecv(t, a.handedOver, "A's onHandedOver")
	hoRecv(t, a.http.served, "A's Serve to return")
	assert.ErrorIs(t, a.http.serveErr, net.ErrClosed)

	// B can serve hand-overs on the path A released.
	stopB, err := serveHandover(path, lns, func() {}, func() {}, hoLog(t))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, stopB()) })

	require.Eventually(t, func() bool { return h.count(func(x hoHit) bool { return x.start == 2 }) >= 20 },
		hoWait, time.Millisecond, "hammer gets answers after ready")
	hits := h.finish()

	var fromA, fromB int
	for i, hit := range hits {
		if !assert.NoError(t, hit.err, "request %d (phase %d→%d)", i, hit.start, hit.end) {
			continue
		}
		switch hit.body {
		case "A":
			fromA++
			assert.Less(t, hit.start, int32(2), "request %d started after ready but A answered", i)
		case "B":
			fromB++
			assert.GreaterOrEqual(t, hit.end, int32(1), "request %d: B answered before taking over", i)
		default:
			assert.Fail(t, "unexpected body", "request %d: %q", i, hit.body)
		}
	}
	t.Logf("%d requests: %d from A, %d from B", len(hits), fromA, fromB)

	select {
	case <-slow:
		require.FailNow(t, "the slow request finished before its gate opened")
	default:
	}
	a.gate.open()
	s := hoRecv(t, slow, "the slow request")
	require.NoError(t, s.err)
	assert.Equal(t, "A-slow", s.body)
	assert.NoError(t, hoRecv(t, drained, "A's drain"))
}

// hoRaw dials path and sends line (if any), returning the connection.
func hoRaw(t *testing.T, path, line string) *net.UnixConn {
	t.Helper()
	c, err := net.DialTimeout("unix", path, hoWait)
	require.NoError(t, err)
	uc := c.(*net.UnixConn)
	require.NoError(t, uc.SetDeadline(time.Now().Add(hoWait)))
	if line != "" {
		_, err = io.WriteString(uc, line)
		require.NoError(t, err)
	}
	return uc
}

// TestHandoverAbortedThenAgain: a new process that fails before "ready"
// leaves the old one serving, and a later one can still take over.
func TestHandoverAbortedThenAgain(t *testing.T) {
	tests := []struct {
		name  string
		abort func(t *testing.T, ctx context.Context, path string)
	}{
		{"hangs up before asking", func(t *testing.T, _ context.Context, path string) {
			require.NoError(t, hoRaw(t, path, "").Close())
		}},
		{"garbage request", func(t *testing.T, _ context.Context, path string) {
			c := hoRaw(t, path, "GET / HTTP/1.1\n")
			defer c.Close()
			_, err := io.ReadAll(c) // the old process just hangs up
			require.NoError(t, err)
		}},
		{"other protocol version", func(t *testing.T, _ context.Context, path string) {
			c := hoRaw(t, path, "sidecar-handover 2 take\n")
			defer c.Close()
			m, err := readMsg(c)
			require.NoError(t, err)
			assert.Equal(t, "error", m.verb)
			assert.Empty(t, m.fds)
		}},
		{"dies after receiving the listeners", func(t *testing.T, ctx context.Context, path string) {
			lns, hc, err := takeOver(ctx, path)
			require.NoError(t, err)
			require.Contains(t, lns, "http")
			require.NoError(t, lns["http"].Close())
			require.NoError(t, hc.close())
		}},
		{"answers something else than ready", func(t *testing.T, ctx context.Context, path string) {
			lns, hc, err := takeOver(ctx, path)
			require.NoError(t, err)
			defer func() { _ = lns["http"].Close() }()
			require.NoError(t, writeMsg(hc.conn, "bogus", nil, nil))
			_, err = readMsg(hc.conn)
			assert.ErrorIs(t, err, io.EOF)
			require.NoError(t, hc.close())
		}},
	}
	path := hoSockPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*hoWait)
	defer cancel()
	a := startHoOld(t, path, "A", nil)
	url := "http://" + a.addr
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.abort(t, ctx, path)
			// The old process answers requests on its listener, and a
			// hand-over request (queued behind the aborted one, if still
			// being handled) gets the listeners again.
			for range 5 {
				body, err := hoGet(hoClient(), url)
				require.NoError(t, err)
				assert.Equal(t, "A", body)
			}
			lns, hc, err := takeOver(ctx, path)
			require.NoError(t, err)
			require.NoError(t, hc.close())
			require.NoError(t, lns["http"].Close())
			assert.Zero(t, a.released.Load())
			select {
			case <-a.handedOver:
				require.FailNow(t, "onHandedOver called for an aborted hand-over")
			default:
			}
		})
	}

	c, _ := hoNew(t, ctx, path, "C")
	require.NoError(t, c.ready(ctx))
	hoRecv(t, a.handedOver, "A's onHandedOver")
	assert.EqualValues(t, 1, a.released.Load())
	body, err := hoGet(hoClient(), url)
	require.NoError(t, err)
	assert.Equal(t, "C", body)
	_, err = os.Lstat(path)
	assert.ErrorIs(t, err, fs.ErrNotExist, "A removed the socket path")
}

// TestTakeOverContext: a silent old process does not hold the new one
// past its context.
func TestTakeOverContext(t *testing.T) {
	path := hoSockPath(t)
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan net.Conn, 1)
	go func() { // exits when ln is closed at cleanup, or after one accept
		if c, err := ln.Accept(); err == nil {
			accepted <- c
		}
	}()
	t.Cleanup(func() {
		select {
		case c := <-accepted:
			_ = c.Close()
		default:
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	lns, hc, err := takeOver(ctx, path)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Nil(t, lns)
	assert.Nil(t, hc)
	assert.Less(t, time.Since(start), hoWait/2)
}

// TestHandoverStop: stop aborts an exchange that is not committed, removes
// the path and leaves the listeners alone.
func TestHandoverStop(t *testing.T) {
	path := hoSockPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), hoWait)
	defer cancel()
	a := startHoOld(t, path, "A", nil)

	lns, hc, err := takeOver(ctx, path)
	require.NoError(t, err)
	inherited := lns["http"]
	defer func() { _ = inherited.Close() }()
	require.NoError(t, a.stop())
	require.NoError(t, a.stop(), "stop is idempotent")

	assert.Error(t, hc.ready(ctx))
	assert.Zero(t, a.released.Load())
	_, err = os.Lstat(path)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	body, err := hoGet(hoClient(), "http://"+a.addr)
	require.NoError(t, err)
	assert.Equal(t, "A", body)

	lns, hc, err = takeOver(ctx, path)
	require.NoError(t, err)
	assert.Nil(t, lns)
	assert.Nil(t, hc)
}

// TestServeHandoverExistingPath: what serveHandover does with a file
// already at its path.
func TestServeHandoverExistingPath(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string)
		wantErr error // nil: serves; hoErrAny: some error
		kept    bool  // the file is left in place
		stale   bool  // a socket nobody answers on
	}{
		{name: "stale socket of a crashed process", stale: true, prepare: func(t *testing.T, path string) {
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			require.NoError(t, err)
			ln.SetUnlinkOnClose(false)
			require.NoError(t, ln.Close())
		}},
		{name: "live handover server", wantErr: errHandoverInUse, kept: true, prepare: func(t *testing.T, path string) {
			startHoOld(t, path, "A", nil)
		}},
		{name: "regular file", wantErr: hoErrAny, kept: true, prepare: func(t *testing.T, path string) {
			require.NoError(t, os.WriteFile(path, []byte("keep me"), 0o600))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := hoSockPath(t)
			tt.prepare(t, path)
			before, err := os.Lstat(path)
			require.NoError(t, err)

			ctx, cancel := context.WithTimeout(context.Background(), hoWait)
			defer cancel()
			if tt.stale {
				lns, hc, err := takeOver(ctx, path)
				require.NoError(t, err)
				require.Nil(t, lns, "nobody answers on a stale socket")
				require.Nil(t, hc)
			}

			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			stop, err := serveHandover(path, map[string]net.Listener{"http": ln}, func() {}, func() {}, hoLog(t))
			if tt.wantErr != nil {
				require.Error(t, err)
				if tt.wantErr != hoErrAny {
					assert.ErrorIs(t, err, tt.wantErr)
				}
			} else {
				require.NoError(t, err)
				defer func() { assert.NoError(t, stop()) }()
				lns, hc, err := takeOver(ctx, path)
				require.NoError(t, err)
				require.Contains(t, lns, "http")
				assert.NoError(t, lns["http"].Close())
				assert.NoError(t, hc.close())
			}
			after, err := os.Lstat(path)
			require.NoError(t, err)
			assert.Equal(t, tt.kept, os.SameFile(before, after))
		})
	}
}

// hoErrAny marks a test case that expects some error.
var hoErrAny = errors.New("any error")

func TestHandoverSocketMode(t *testing.T) {
	path := hoSockPath(t)
	startHoOld(t, path, "A", nil)
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	assert.Equal(t, fs.ModeSocket, fi.Mode().Type())
	assert.Equal(t, fs.FileMode(0o600), fi.Mode().Perm())
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "the temporary bind directory is gone")
	assert.Equal(t, filepath.Base(path), entries[0].Name())
}

func TestServeHandoverBadListeners(t *testing.T) {
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer tcp.Close()
	tests := []struct {
		name string
		lns  map[string]net.Listener
	}{
		{"none", nil},
		{"wrapped listener", map[string]net.Listener{"http": hoWrapped{tcp}}},
		{"name with a space", map[string]net.Listener{"ht tp": tcp}},
		{"empty name", map[string]net.Listener{"": tcp}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := hoSockPath(t)
			_, err := serveHandover(path, tt.lns, func() {}, func() {}, hoLog(t))
			require.Error(t, err)
			_, err = os.Lstat(path)
			assert.ErrorIs(t, err, fs.ErrNotExist, "nothing left at path")
		})
	}
}

// hoWrapped hides File, like tls.NewListener does.
type hoWrapped struct{ net.Listener }

// TestHandoverDrainAnswersAcceptedConn pins the net/http behaviour
// connTracker works around: http.Server.Shutdown does not answer a request
// it reads after Shutdown began, on a connection it accepted before. With
// drain = srv.Shutdown alone, the client reads EOF here.
func TestHandoverDrainAnswersAcceptedConn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), hoWait)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h := startHoHTTP(t, ln, "A", newHoGate())

	c, err := net.DialTimeout("tcp", ln.Addr().String(), hoWait)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(hoWait)))
	require.Eventually(t, func() bool {
		h.conns.mu.Lock()
		defer h.conns.mu.Unlock()
		return len(h.conns.pending) == 1
	}, hoWait, time.Millisecond, "the server accepted the connection")

	h.stopAccepting()
	drained := make(chan error, 1)
	go func() { drained <- h.drain(ctx) }() // exits when the connection closes or ctx ends
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err, "the request read during the drain is answered")
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "A", string(body))
	assert.True(t, resp.Close, "keep-alives are off: the server closes after answering")
	assert.NoError(t, hoRecv(t, drained, "the drain"))
}
