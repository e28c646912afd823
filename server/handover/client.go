package handover

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

// Client is the new process's end of a hand-over in progress, returned by
// [TakeOver]. Call [Client.Ready] once serving on the inherited listeners,
// or [Client.Close] to abort. A Client is not safe for concurrent use.
type Client struct {
	conn *net.UnixConn
	step time.Duration // deadline of each protocol step
}

// TakeOver connects to the hand-over socket at path and asks the process
// serving there (see [Serve]) for its listeners.
//
// If no process listens at path (the file does not exist: ENOENT, or
// nothing accepts on it: ECONNREFUSED, e.g. a socket left by a crashed
// process), TakeOver returns (nil, nil, nil): there is nothing to take
// over and the caller binds its own listeners.
//
// Otherwise it returns the listeners by name (e.g. "http"), plus a
// [Client] to finish the exchange: the caller serves on the listeners,
// then calls [Client.Ready] (or [Client.Close] if it cannot serve, so that
// the old process goes on serving). The listeners are the caller's to
// close in every case; they are the raw sockets (wrap them again, e.g. in
// tls.NewListener, as the old process did).
//
// It fails if the old process rejects the request ([ErrRejected]), speaks
// another version ([ErrVersion]) or anything else ([ErrProtocol]); it
// waits at most 10 s for the answer, or until ctx ends, in which case
// errors.Is(err, ctx.Err()) holds. On error no listener is left open and
// the old process goes on serving.
func TakeOver(ctx context.Context, path string) (map[string]net.Listener, *Client, error) {
	return takeOver(ctx, path, stepTimeout)
}

// takeOver is TakeOver with step as the deadline of each protocol step.
func takeOver(ctx context.Context, path string, step time.Duration) (map[string]net.Listener, *Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, nil, nil
		}
		return nil, nil, fmt.Errorf("connecting to handover socket: %w", err)
	}
	c := &Client{conn: conn.(*net.UnixConn), step: step}
	lns, err := c.take(ctx)
	if err != nil {
		_ = c.Close()
		return nil, nil, fmt.Errorf("taking over listeners: %w", err)
	}
	return lns, c, nil
}

// take sends "take" and turns the answer into listeners.
func (c *Client) take(ctx context.Context) (_ map[string]net.Listener, err error) {
	defer c.startStep(ctx)()
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
		return nil, fmt.Errorf("%w: %s", ErrRejected, strings.Join(m.args, " "))
	case m.verb != "listeners":
		closeFDs(m.fds)
		return nil, fmt.Errorf("%w: got %q, want listeners", ErrProtocol, m.verb)
	}
	return listenersFromFDs(m.args, m.fds)
}

// Ready tells the old process that the new one serves on the inherited
// listeners. It returns nil once the old process has stopped accepting on
// its copies and released the socket path, so that the caller can now
// [Serve] on the same path. It waits at most 10 s, or until ctx ends
// (errors.Is(err, ctx.Err()) then holds). It closes the connection in
// every case; the listeners stay the caller's.
//
// On error the old process may or may not have released: the caller
// should keep serving (both processes accepting on one socket is
// harmless). An answer other than "released" is an [ErrProtocol].
func (c *Client) Ready(ctx context.Context) (err error) {
	defer func() { err = errors.Join(withCtxErr(ctx, err), c.Close()) }()
	defer c.startStep(ctx)()
	if err := writeMsg(c.conn, "ready", nil, nil); err != nil {
		return fmt.Errorf("sending ready: %w", err)
	}
	m, err := readMsg(c.conn)
	if err != nil {
		return fmt.Errorf("waiting for release: %w", err)
	}
	closeFDs(m.fds)
	if m.verb != "released" {
		return fmt.Errorf("%w: got %q, want released", ErrProtocol, m.verb)
	}
	return nil
}

// Close aborts the exchange if [Client.Ready] has not completed it: the
// old process keeps serving. It does not close the listeners returned by
// [TakeOver]. It is idempotent, and a no-op after Ready.
func (c *Client) Close() error {
	if err := c.conn.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return err
	}
	return nil
}

// startStep sets the deadline of one client step (c.step) and makes ctx's
// end interrupt it. The returned func must be called when the step is
// over. The context.AfterFunc goroutine runs only if ctx ends first, and
// returns at once.
func (c *Client) startStep(ctx context.Context) (done func()) {
	// ctx's own deadline is left to AfterFunc, so that ctx.Err() is set
	// whenever ctx is what cut the step short.
	_ = c.conn.SetDeadline(time.Now().Add(c.step))
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
		return nil, fmt.Errorf("%w: %d names for %d FDs", ErrProtocol, len(names), len(fds))
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
		if _, dup := lns[name]; dup || !validName(name) {
			return fail(i, fmt.Errorf("%w: bad listener name %q", ErrProtocol, name))
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
