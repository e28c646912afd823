package handover

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"sync"
)

// ConnTracker lets an http.Server drain without dropping connections it
// accepted but has not read a request from yet. http.Server.Shutdown drops
// those: a request read after Shutdown began is not answered, the client
// sees EOF (net/http conn.serve returns when shuttingDown()). In a
// hand-over the old process's accept loop races the new one's right up to
// release, so it always has a few such connections. The way out:
//
//	srv.ConnState = tracker.ConnState  // before Serve
//	// release: stop accepting; no new requests on kept-alive connections.
//	srv.SetKeepAlivesEnabled(false)   // also closes idle connections
//	ln.Close()                        // Serve returns net.ErrClosed, not ErrServerClosed
//	<-served                          // Serve returned: every accepted conn is tracked
//	// drain (onHandedOver, or any graceful stop):
//	tracker.Wait(ctx)                 // HTTP/1 connections answered and closed
//	srv.Shutdown(ctx)                 // HTTP/2: GOAWAY, which clients retry safely
//
// A connection is pending from StateNew until it is closed or hijacked, or
// turns out to be HTTP/2 over TLS (it is then left to Shutdown). With
// keep-alives disabled, every HTTP/1 connection closes after its request,
// or after ReadHeaderTimeout if the client sends none. A ConnTracker is
// safe for concurrent use. The zero value is not usable: use
// [NewConnTracker].
type ConnTracker struct {
	mu      sync.Mutex
	pending map[net.Conn]struct{}
	changed chan struct{} // closed and replaced whenever pending shrinks
}

// NewConnTracker returns a ConnTracker with no pending connection.
func NewConnTracker() *ConnTracker {
	return &ConnTracker{pending: make(map[net.Conn]struct{}), changed: make(chan struct{})}
}

// ConnState is an http.Server ConnState hook: set srv.ConnState to it
// before srv.Serve, so that it sees every connection's StateNew. If the
// server needs another hook too, call both from one func.
func (t *ConnTracker) ConnState(c net.Conn, state http.ConnState) {
	done := state == http.StateClosed || state == http.StateHijacked
	if state == http.StateActive || state == http.StateIdle {
		tc, ok := c.(*tls.Conn)
		if !ok {
			// Twice per request on every HTTP/1 connection, with nothing
			// to record: no lock shared by every connection.
			return
		}
		done = tc.ConnectionState().NegotiatedProtocol == "h2"
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

// Wait returns nil once no connection is pending, at once if none is.
// If ctx ends first, it returns an error wrapping ctx.Err() that counts
// the connections still pending. It does not close connections; stop
// accepting first (see [ConnTracker]), or new ones may keep it waiting.
func (t *ConnTracker) Wait(ctx context.Context) error {
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
