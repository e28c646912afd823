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
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
