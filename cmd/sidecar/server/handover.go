package server

// Zero-downtime upgrade: socket hand-over.
//
// A running Sidecar (the old process) serves a unix socket at a configured
// path. A new Sidecar starting up connects there and receives the old
// process's listening sockets as file descriptors (SCM_RIGHTS). It is then
// the very same kernel socket in both processes, so connections queued in
// the accept backlog are never reset: whichever process calls accept first
// gets them. Once the new process serves, the old one stops accepting,
// gives up the socket path and drains its in-flight requests.
//
// We hand over FDs rather than using SO_REUSEPORT because closing one of
// several SO_REUSEPORT listeners resets the connections queued in its own
// backlog (unless net.ipv4.tcp_migrate_req is set).
//
// # Protocol, version 1
//
// One exchange per connection, one line per message. Every line is
// "sidecar-handover 1 <verb> [args...]\n", space-separated, at most
// handoverMaxLine bytes; each step has a handoverStepTimeout deadline.
//
//	new process                          old process
//	"... take"                   ───►
//	                             ◄───    "... listeners <name>..." + SCM_RIGHTS, one FD per name, same order
//	                                     or "... error <reason>" (then the old process closes)
//	(serves on the inherited listeners)
//	"... ready"                  ───►
//	                                     release(): stops accepting on its copies
//	                                     closes its unix listener, removes the path
//	                             ◄───    "... released"
//	(may now serveHandover on the path)  onHandedOver(): drains and exits
//
// If the exchange fails before "ready" (bad line, timeout, the new process
// dies), the old process closes the connection and keeps serving and
// accepting hand-over requests; the new process's FD copies die with it or
// its connection. Once "ready" is read, the hand-over is committed: the old
// process releases even if it cannot deliver "released".
//
// A peer answering with another version gets "sidecar-handover 1 error
// unsupported protocol version" (the old process) or an error wrapping
// errHandoverVersion (the new process).
//
// # Security
//
// Whoever can connect to the socket gets the listening sockets, so the file
// has mode 0600: only the same user (and root) can take over. The socket is
// bound in a private 0700 directory next to path, set to 0600, and only then
// hard-linked at path, so it is never reachable with a wider mode, and an
// existing file at path is never clobbered.
//
// Unix only (SCM_RIGHTS); Linux is what the tests run on.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"
)

const (
	handoverMagic        = "sidecar-handover"
	handoverVersion      = "1"
	handoverStepTimeout  = 10 * time.Second // deadline of each protocol step, both sides
	handoverMaxLine      = 1024             // bytes per protocol line, newline included
	handoverMaxListeners = 16               // FDs per hand-over
	handoverMaxName      = 64               // bytes per listener name
	handoverSocketMode   = 0o600
)

var (
	// errHandoverInUse: serveHandover found a live process serving the path.
	errHandoverInUse = errors.New("server: handover socket is served by a live process")
	// errHandoverRejected: the old process answered "error" (e.g. its
	// listeners are already closed).
	errHandoverRejected = errors.New("server: old process rejected the hand-over")
	// errHandoverProtocol: a malformed or unexpected line, or FDs that do
	// not match the names.
	errHandoverProtocol = errors.New("server: handover protocol error")
	// errHandoverVersion: the peer speaks another protocol version.
	errHandoverVersion = errors.New("server: unsupported handover protocol version")
	// errHandoverNoRequest: a peer hung up without asking anything (e.g.
	// removeStaleSocket's probe); not worth a warning.
	errHandoverNoRequest = errors.New("server: peer closed without a handover request")
)

// fileListener is a listener whose socket can be duplicated as a file:
// *net.TCPListener and *net.UnixListener. Wrappers such as tls.NewListener
// are not: hand over the raw listener and wrap it again in the new process.
type fileListener interface {
	net.Listener
	File() (*os.File, error)
}

// handoverClient is the new process's end of a hand-over in progress,
// returned by takeOver. Call ready once serving, or close to abort.
type handoverClient struct {
	conn *net.UnixConn
}

// takeOver connects to the handover socket at path. If no process listens
// there (ENOENT/ECONNREFUSED), it returns (nil, nil, nil): the caller binds
// its own listeners. Otherwise it asks the old process for its listeners
// and returns them by name (e.g. "http"), plus a handle to finish the
// exchange: the caller serves on the listeners, then calls ready (or close,
// if it cannot serve, so that the old process goes on serving).
//
// It fails if the old process rejects the request (errHandoverRejected),
// speaks another version (errHandoverVersion) or anything else
// (errHandoverProtocol); it waits at most handoverStepTimeout or until ctx
// ends. On error no listener is left open.
func takeOver(ctx context.Context, path string) (map[string]net.Listener, *handoverClient, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("connecting to handover socket: %w", err)
	}
	c := &handoverClient{conn: conn.(*net.UnixConn)}
	lns, err := c.take(ctx)
	if err != nil {
		_ = c.close()
		return nil, nil, fmt.Errorf("taking over listeners: %w", err)
	}
	return lns, c, nil
}

// take sends "take" and turns the answer into listeners.
func (c *handoverClient) take(ctx context.Context) (_ map[string]net.Listener, err error) {
	defer c.step(ctx)()
	defer func() { err = withCtxErr(ctx, err) }()
	if err := writeMsg(c.conn, "take", nil, nil); err != nil {
		return nil, err
	}
	m, err := readMsg(c.conn)
	if err != nil {
		return nil, err
	}
	switch {
	case m.verb == "error":
		closeFDs(m.fds)
		return nil, fmt.Errorf("%w: %s", errHandoverRejected, strings.Join(m.args, " "))
	case m.verb != "listeners":
		closeFDs(m.fds)
		return nil, fmt.Errorf("%w: got %q, want listeners", errHandoverProtocol, m.verb)
	}
	return listenersFromFDs(m.args, m.fds)
}

// ready tells the old process the new one is serving on the inherited
// listeners; it returns once the old process has stopped accepting on its
// copies and released the socket path (so the caller can now serveHandover
// on the same path), or ctx ends, or handoverStepTimeout passes. It closes
// the connection in every case; the listeners stay the caller's.
//
// On error the old process may or may not have released: the caller should
// keep serving (both processes accepting on one socket is harmless).
func (c *handoverClient) ready(ctx context.Context) (err error) {
	defer func() { err = errors.Join(withCtxErr(ctx, err), c.close()) }()
	defer c.step(ctx)()
	if err := writeMsg(c.conn, "ready", nil, nil); err != nil {
		return fmt.Errorf("sending ready: %w", err)
	}
	m, err := readMsg(c.conn)
	if err != nil {
		return fmt.Errorf("waiting for release: %w", err)
	}
	closeFDs(m.fds)
	if m.verb != "released" {
		return fmt.Errorf("%w: got %q, want released", errHandoverProtocol, m.verb)
	}
	return nil
}

// close aborts the exchange: the old process keeps serving. It does not
// close the listeners returned by takeOver.
func (c *handoverClient) close() error {
	if err := c.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// step sets the deadline of one client step (handoverStepTimeout) and
// makes ctx's end interrupt it. The returned func must be called when the
// step is over. The context.AfterFunc goroutine runs only if ctx ends
// first, and returns at once.
func (c *handoverClient) step(ctx context.Context) (done func()) {
	// ctx's own deadline is left to AfterFunc, so that ctx.Err() is set
	// whenever ctx is what cut the step short.
	_ = c.conn.SetDeadline(time.Now().Add(handoverStepTimeout))
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	return func() { stop() }
}

// withCtxErr adds ctx's error to err when ctx has ended, so that callers
// can tell cancellation from a peer failure.
func withCtxErr(ctx context.Context, err error) error {
	if err != nil && ctx.Err() != nil {
		return errors.Join(err, ctx.Err())
	}
	return err
}

// listenersFromFDs wraps received FDs as listeners. It owns fds: on error
// all of them are closed.
func listenersFromFDs(names []string, fds []int) (map[string]net.Listener, error) {
	if len(names) != len(fds) || len(names) == 0 {
		closeFDs(fds)
		return nil, fmt.Errorf("%w: %d names for %d FDs", errHandoverProtocol, len(names), len(fds))
	}
	lns := make(map[string]net.Listener, len(names))
	fail := func(i int, err error) (map[string]net.Listener, error) {
		closeFDs(fds[i:])
		for _, ln := range lns {
			_ = ln.Close()
		}
		return nil, err
	}
	for i, fd := range fds {
		name := names[i]
		if _, dup := lns[name]; dup || !validHandoverName(name) {
			return fail(i, fmt.Errorf("%w: bad listener name %q", errHandoverProtocol, name))
		}
		f := os.NewFile(uintptr(fd), "handover:"+name)
		ln, err := net.FileListener(f) // dups the FD
		_ = f.Close()
		if err != nil {
			return fail(i+1, fmt.Errorf("listener %q: %w", name, err))
		}
		lns[name] = ln
	}
	return lns, nil
}
