package handover

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
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hoExpiringCtx is a context whose deadline passes when the test calls
// expire rather than at a time on the clock, so that the test decides
// what is under way when it ends.
type hoExpiringCtx struct {
	context.Context // context.Background(): no deadline, no values
	done            chan struct{}
	once            sync.Once
}

func newHoExpiringCtx() *hoExpiringCtx {
	return &hoExpiringCtx{Context: context.Background(), done: make(chan struct{})}
}

func (c *hoExpiringCtx) Done() <-chan struct{} { return c.done }

func (c *hoExpiringCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func (c *hoExpiringCtx) expire() { c.once.Do(func() { close(c.done) }) }

// TestTakeOverContext: a silent old process does not hold the new one
// past its context. The context expires once the old process has read
// the request, so takeOver is waiting for the answer; a step would last
// an hour, so returning within hoWait proves the context cut it short.
func TestTakeOverContext(t *testing.T) {
	path := hoSockPath(t)
	ln, err := net.Listen("unix", path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	accepted := make(chan net.Conn, 1)
	asked := make(chan string, 1)
	go func() { // exits when ln is closed at cleanup, or once it has read a line or EOF
		c, err := ln.Accept()
		if err != nil {
			return
		}
		accepted <- c // kept open, silent, until cleanup
		line, _ := bufio.NewReader(c).ReadString('\n')
		asked <- line
	}()
	t.Cleanup(func() {
		select {
		case c := <-accepted:
			_ = c.Close()
		default:
		}
	})

	ctx := newHoExpiringCtx()
	t.Cleanup(ctx.expire)
	start := time.Now()
	taken := hoTakeOverAsync(ctx, path)
	assert.Equal(t, "sidecar-handover 1 take\n", hoRecv(t, asked, "the silent old process to read the request"))
	ctx.expire()
	got := hoRecv(t, taken, "takeOver to return once its context expired (a step lasts "+hoStep.String()+")")
	assert.ErrorIs(t, got.err, context.DeadlineExceeded)
	assert.Nil(t, got.lns)
	assert.Nil(t, got.hc)
	assert.Less(t, time.Since(start), hoStep/2, "takeOver returned because its context ended, not its step")
}

// TestHandoverStop: stop aborts an exchange that is not committed, removes
// the path and leaves the listeners alone.
func TestHandoverStop(t *testing.T) {
	path := hoSockPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), hoWait)
	defer cancel()
	a := startHoOld(t, path, "A", nil)

	lns, hc, err := hoTakeOver(ctx, path)
	require.NoError(t, err)
	inherited := lns["http"]
	defer func() { _ = inherited.Close() }()
	require.NoError(t, a.stop())
	require.NoError(t, a.stop(), "stop is idempotent")

	assert.Error(t, hc.Ready(ctx))
	assert.Zero(t, a.released.Load())
	_, err = os.Lstat(path)
	assert.ErrorIs(t, err, fs.ErrNotExist)
	body, err := hoGet(hoClient(), "http://"+a.addr)
	require.NoError(t, err)
	assert.Equal(t, "A", body)

	lns, hc, err = hoTakeOver(ctx, path)
	require.NoError(t, err)
	assert.Nil(t, lns)
	assert.Nil(t, hc)
}

// TestServeExistingPath: what Serve does with a file already at its path.
func TestServeExistingPath(t *testing.T) {
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
		{name: "live handover server", wantErr: ErrInUse, kept: true, prepare: func(t *testing.T, path string) {
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
				lns, hc, err := TakeOver(ctx, path)
				require.NoError(t, err)
				require.Nil(t, lns, "nobody answers on a stale socket")
				require.Nil(t, hc)
			}

			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			stop, err := hoServe(t, path, map[string]net.Listener{"http": ln}, func() {}, func() {})
			if tt.wantErr != nil {
				require.Error(t, err)
				if tt.wantErr != hoErrAny {
					assert.ErrorIs(t, err, tt.wantErr)
				}
			} else {
				require.NoError(t, err)
				defer func() { assert.NoError(t, stop()) }()
				lns, hc, err := hoTakeOver(ctx, path)
				require.NoError(t, err)
				require.Contains(t, lns, "http")
				assert.NoError(t, lns["http"].Close())
				assert.NoError(t, hc.Close())
			}
			after, err := os.Lstat(path)
			require.NoError(t, err)
			assert.Equal(t, tt.kept, os.SameFile(before, after))
		})
	}
}

// hoErrAny marks a test case that expects some error.
var hoErrAny = errors.New("any error")

func TestServeSocketMode(t *testing.T) {
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

func TestServeBadListeners(t *testing.T) {
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
			_, err := Serve(path, tt.lns, func() {}, func() {}, hoLog(t))
			require.Error(t, err)
			_, err = os.Lstat(path)
			assert.ErrorIs(t, err, fs.ErrNotExist, "nothing left at path")
		})
	}
}

// hoWrapped hides File, like tls.NewListener does.
type hoWrapped struct{ net.Listener }

// TestHandoverDrainAnswersAcceptedConn pins the net/http behaviour
// ConnTracker works around: http.Server.Shutdown does not answer a request
// it reads after Shutdown began, on a connection it accepted before. With
// drain = srv.Shutdown alone, the client reads EOF here.
func TestHandoverDrainAnswersAcceptedConn(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*hoWait)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	h := startHoHTTP(t, ln, "A", newHoGate())

	c, err := net.DialTimeout("tcp", ln.Addr().String(), hoWait)
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(2*hoWait)))
	require.Eventually(t, func() bool { return h.conns.pendingCount() == 1 },
		hoWait, hoTick, "the server accepted the connection")

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
