package proxy

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"syscall"
)

// errAppClosedConn fails the first write of a request on a reused
// keep-alive connection that the app has already closed (or on which it
// sent bytes nobody asked for, as a server does before it closes an idle
// connection). Nothing was written, so the request is retried on another
// connection whatever its method.
var errAppClosedConn = errors.New("proxy: the app closed this keep-alive connection before the request was written")

// liveConn is a connection to an app that checks, just before the first
// write of a request on it once reused, that the app has not closed it.
// Only requests that net/http's transport would not resend by itself are
// checked (see transportResends): a GET is sent again on a fresh
// connection by the transport when the app closed the one it got, so the
// check, a system call, would only slow the common case.
//
// The race it closes: an app that shuts down (or times out an idle
// connection) closes its keep-alive connections at once; Sidecar may pick
// one of them from the idle pool in the moment before the transport's
// reader goroutine has seen the app's FIN and dropped it, which on a busy
// machine lasts as long as that goroutine waits to be scheduled. A request
// written there is lost in a way that looks exactly like an app that read
// it and crashed, so a POST could not be retried and failed. The check is
// one non-blocking peek at the socket (a recvfrom with MSG_PEEK): the FIN
// is in the kernel's queue already, whether or not a goroutine has run.
// What remains is an app that closes the connection after the peek and
// before it reads the request: then the kernel resets the connection (the
// request is unread) and the reset is retried, or, for the instant a FIN
// is in flight on the wire, the request fails as before.
type liveConn struct {
	net.Conn
	raw syscall.RawConn
	// armed is set when the transport hands the connection to a request
	// again (attemptTrace's GotConn), and cleared by the first write after
	// it.
	armed atomic.Bool
	// written counts the bytes written to the socket, so a failed try can
	// tell whether any of its request left Sidecar (see attemptTrace).
	written atomic.Int64
	// read counts the bytes read from the socket, so a failed try can
	// tell whether the transport's response header limit stopped it (see
	// attemptTrace.headerOverflow).
	read atomic.Int64
	// peek and its result closed are made once per connection, so that a
	// check allocates nothing; buf is peek's one-byte buffer. The
	// transport writes from one goroutine at a time.
	peek   func(fd uintptr)
	closed bool
	buf    [1]byte
}

// dialLive wraps dial so that every connection it makes is a liveConn
// (when it is one whose socket can be peeked at).
func dialLive(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil || !peekSupported {
			return c, err
		}
		sc, ok := c.(syscall.Conn)
		if !ok {
			return c, nil
		}
		raw, err := sc.SyscallConn()
		if err != nil {
			return c, nil
		}
		lc := &liveConn{Conn: c, raw: raw}
		lc.peek = func(fd uintptr) { lc.closed = peekClosed(int(fd), lc.buf[:]) }
		return lc, nil
	}
}

func (c *liveConn) Write(p []byte) (int, error) {
	if c.armed.Swap(false) && c.closedByApp() {
		return 0, &net.OpError{Op: "write", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: errAppClosedConn}
	}
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

func (c *liveConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// closedByApp reports whether the app has closed its side (a FIN or a
// reset is queued) or sent unsolicited bytes, without blocking and
// without consuming anything. Control, unlike Read, does not wait for the
// transport's reader, which is blocked reading this connection.
func (c *liveConn) closedByApp() bool {
	c.closed = false
	_ = c.raw.Control(c.peek)
	return c.closed
}
