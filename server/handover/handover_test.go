package handover

import (
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

const (
	// hoWait bounds every wait for a condition in these tests: generous,
	// so that a busy 2-core machine running -race does not fail them.
	hoWait = 30 * time.Second
	// hoTick is how often require.Eventually checks its condition.
	hoTick = 5 * time.Millisecond
	// hoStep is the protocol step deadline both ends get in these tests
	// (10 s in production), so that no step times out while a test waits
	// in the middle of an exchange (TestHandoverFull waits for B to answer
	// before Ready). Whatever returns within hoWait did so for its own
	// reason, never because a step timed out.
	hoStep = time.Hour
)

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

// hoServe is Serve with hoStep.
func hoServe(t *testing.T, path string, lns map[string]net.Listener, release, onHandedOver func()) (func() error, error) {
	return start(path, lns, release, onHandedOver, hoLog(t), hoStep)
}

// hoTakeOver is TakeOver with hoStep.
func hoTakeOver(ctx context.Context, path string) (map[string]net.Listener, *Client, error) {
	return takeOver(ctx, path, hoStep)
}

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
// ConnTracker's doc says a caller should.
type hoHTTP struct {
	srv      *http.Server
	ln       net.Listener
	conns    *ConnTracker
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
	h := &hoHTTP{ln: ln, conns: NewConnTracker(), served: make(chan struct{})}
	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: hoWait, ConnState: h.conns.ConnState}
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

// stopAccepting is the release func a caller should use.
func (h *hoHTTP) stopAccepting() {
	h.srv.SetKeepAlivesEnabled(false)
	_ = h.ln.Close()
	<-h.served
}

// drain is the graceful stop a caller should use after stopAccepting.
func (h *hoHTTP) drain(ctx context.Context) error {
	if err := h.conns.Wait(ctx); err != nil {
		return err
	}
	return h.srv.Shutdown(ctx)
}

// hoClient makes every request on a fresh TCP connection.
func hoClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: hoWait}
}

func hoGet(c *http.Client, url string) (string, error) {
	return hoGetCtx(context.Background(), c, url)
}

func hoGetCtx(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
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
		require.FailNow(t, "timed out after "+hoWait.String()+" waiting for "+what)
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
	o.stop, err = hoServe(t, path, map[string]net.Listener{"http": ln},
		func() { o.released.Add(1); o.http.stopAccepting() },
		func() {
			close(o.handedOver)
			if afterHandedOver != nil {
				afterHandedOver(o)
			}
		})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, o.stop()) })
	return o
}

// hoNew takes over from path and serves body on the inherited listener.
func hoNew(t *testing.T, ctx context.Context, path, body string) (*Client, map[string]net.Listener) {
	t.Helper()
	lns, hc, err := hoTakeOver(ctx, path)
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
// stopped (at most hoHammerMax each).
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
	for range workers {
		h.wg.Add(1)
		go func() { // exits on finish (at the latest at cleanup) or after hoHammerMax requests
			defer h.wg.Done()
			c := hoClient()
			for range hoHammerMax {
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

// hoTaken is what takeOver returned.
type hoTaken struct {
	lns map[string]net.Listener
	hc  *Client
	err error
}

// hoTakeOverAsync runs hoTakeOver in a goroutine, which exits when it
// returns, so that a test can bound the wait and say what it waited for.
func hoTakeOverAsync(ctx context.Context, path string) <-chan hoTaken {
	ch := make(chan hoTaken, 1)
	go func() {
		lns, hc, err := hoTakeOver(ctx, path)
		ch <- hoTaken{lns, hc, err}
	}()
	return ch
}

// TestTakeOverNoOldProcess: with nothing at path, takeOver returns at once
// with nothing. The context never ends and a step would last an hour, so
// returning within hoWait proves it did not wait for anything.
func TestTakeOverNoOldProcess(t *testing.T) {
	path := hoSockPath(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := hoRecv(t, hoTakeOverAsync(ctx, path), "takeOver to return: nobody listens at path, there is nothing to wait for")
	require.NoError(t, got.err)
	assert.Nil(t, got.lns)
	assert.Nil(t, got.hc)
}

func TestHandoverFull(t *testing.T) {
	path := hoSockPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*hoWait)
	defer cancel()

	// A caller drains in onHandedOver (which may block): so do we, to see
	// the slow request through it.
	drained := make(chan error, 1)
	a := startHoOld(t, path, "A", func(o *hoOld) { drained <- o.http.drain(ctx) })
	url := "http://" + a.addr

	slow := make(chan hoHit, 1)
	go func() { // exits when the gate opens (or at cleanup, which opens it), or ctx ends
		// No client timeout: the gate opens only after the whole
		// hand-over, however long a busy machine takes for it.
		var hit hoHit
		hit.body, hit.err = hoGetCtx(ctx, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}, url+"/slow")
		slow <- hit
	}()
	hoRecv(t, a.gate.started, "the slow request to reach A")

	h := startHoHammer(t, url, 8)
	require.Eventually(t, func() bool { return h.count(func(x hoHit) bool { return x.body == "A" }) >= 20 },
		hoWait, hoTick, "hammer gets answers from A")

	h.phase.Store(1)
	hc, lns := hoNew(t, ctx, path, "B")
	// Both processes accept on the one socket for a while: A's accept loop
	// is still running when release comes, the case ConnTracker handles.
	require.Eventually(t, func() bool { return h.count(func(x hoHit) bool { return x.body == "B" }) >= 20 },
		hoWait, hoTick, "B answers while A still accepts")
	require.NoError(t, hc.Ready(ctx))
	h.phase.Store(2)
	assert.EqualValues(t, 1, a.released.Load())
	hoRecv(t, a.handedOver, "A's onHandedOver")
	hoRecv(t, a.http.served, "A's Serve to return")
	assert.ErrorIs(t, a.http.serveErr, net.ErrClosed)

	// B can serve hand-overs on the path A released.
	stopB, err := hoServe(t, path, lns, func() {}, func() {})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, stopB()) })

	require.Eventually(t, func() bool { return h.count(func(x hoHit) bool { return x.start == 2 }) >= 20 },
		hoWait, hoTick, "hammer gets answers after ready")
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
	case s := <-slow:
		require.FailNow(t, "the slow request finished before its gate opened", "got %q, %v", s.body, s.err)
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
			lns, hc, err := hoTakeOver(ctx, path)
			require.NoError(t, err)
			require.Contains(t, lns, "http")
			require.NoError(t, lns["http"].Close())
			require.NoError(t, hc.Close())
		}},
		{"answers something else than ready", func(t *testing.T, ctx context.Context, path string) {
			lns, hc, err := hoTakeOver(ctx, path)
			require.NoError(t, err)
			defer func() { _ = lns["http"].Close() }()
			require.NoError(t, writeMsg(hc.conn, "bogus", nil, nil))
			_, err = readMsg(hc.conn)
			assert.ErrorIs(t, err, io.EOF)
			require.NoError(t, hc.Close())
		}},
	}
	path := hoSockPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*hoWait)
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
			lns, hc, err := hoTakeOver(ctx, path)
			require.NoError(t, err)
			require.NoError(t, hc.Close())
			require.NoError(t, lns["http"].Close())
			// The old process serves one exchange at a time and has
			// served this one: the aborted one is over.
			assert.Zero(t, a.released.Load())
			select {
			case <-a.handedOver:
				require.FailNow(t, "onHandedOver called for an aborted hand-over")
			default:
			}
		})
	}

	c, _ := hoNew(t, ctx, path, "C")
	require.NoError(t, c.Ready(ctx))
	hoRecv(t, a.handedOver, "A's onHandedOver")
	assert.EqualValues(t, 1, a.released.Load())
	body, err := hoGet(hoClient(), url)
	require.NoError(t, err)
	assert.Equal(t, "C", body)
	_, err = os.Lstat(path)
	assert.ErrorIs(t, err, fs.ErrNotExist, "A removed the socket path")
}
