package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
)

// connTracker lets an http.Server drain without dropping connections it
// accepted but has not read a request from yet. http.Server.Shutdown drops
// those: a request read after Shutdown began is not answered, the client
// sees EOF (net/http conn.serve returns when shuttingDown()). In a
// hand-over the old process's accept loop races the new one's right up to
// release, so it always has a few such connections. The way out:
//
//	srv.ConnState = tracker.connState  // before Serve
//	// release: stop accepting; no new requests on kept-alive connections.
//	srv.SetKeepAlivesEnabled(false)   // also closes idle connections
//	ln.Close()                        // Serve returns net.ErrClosed, not ErrServerClosed
//	<-served                          // Serve returned: every accepted conn is tracked
//	// drain (onHandedOver, or any graceful stop):
//	tracker.wait(ctx)                 // HTTP/1 connections answered and closed
//	srv.Shutdown(ctx)                 // HTTP/2: GOAWAY, which clients retry safely
//
// A connection is pending from StateNew until it is closed or hijacked, or
// turns out to be HTTP/2 over TLS. With keep-alives disabled, every HTTP/1
// connection closes after its request, or after ReadHeaderTimeout if the
// client sends none. The zero value is not usable: use newConnTracker.
type connTracker struct {
	mu      sync.Mutex
	pending map[net.Conn]struct{}
	changed chan struct{} // closed and replaced whenever pending shrinks
}

func newConnTracker() *connTracker {
	return &connTracker{pending: make(map[net.Conn]struct{}), changed: make(chan struct{})}
}

// connState is an http.Server ConnState hook.
func (t *connTracker) connState(c net.Conn, state http.ConnState) {
	done := state == http.StateClosed || state == http.StateHijacked
	if state == http.StateActive || state == http.StateIdle {
		tc, ok := c.(*tls.Conn)
		done = ok && tc.ConnectionState().NegotiatedProtocol == "h2"
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if state == http.StateNew {
		t.pending[c] = struct{}{}
		return
	}
	if _, ok := t.pending[c]; ok && done {
		delete(t.pending, c)
		close(t.changed)
		t.changed = make(chan struct{})
	}
}

// wait returns nil once no connection is pending, or ctx's error.
func (t *connTracker) wait(ctx context.Context) error {
	for {
		t.mu.Lock()
		n, changed := len(t.pending), t.changed
		t.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%d connections still open: %w", n, ctx.Err())
		}
	}
}
