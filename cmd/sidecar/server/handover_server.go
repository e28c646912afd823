package server

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// handoverServer is the old process's end: it serves hand-over requests
// on a unix socket, one at a time, until one completes or stop is called.
type handoverServer struct {
	path         string
	ln           *net.UnixListener
	sock         os.FileInfo // the socket file at path, so that we remove only our own
	names        []string    // sorted keys of lns
	lns          map[string]fileListener
	release      func()
	onHandedOver func()
	log          zerolog.Logger

	quit chan struct{} // closed by stop
	done chan struct{} // closed when serve returns, before onHandedOver runs

	mu        sync.Mutex
	conn      *net.UnixConn // exchange in progress and not committed; closed by stop
	stopped   bool
	closeOnce sync.Once // closing ln and removing path
	closeErr  error
	stopOnce  sync.Once
	stopErr   error
}

// serveHandover listens on path and serves hand-over requests for lns in a
// goroutine: it sends the listeners' FDs with their names, waits for
// "ready", then calls release, closes its unix listener, removes path,
// acknowledges, and calls onHandedOver (where the caller starts its
// graceful drain). One hand-over per process. A request that fails before
// "ready" leaves this process serving as before.
//
// release must make this process stop accepting on lns, and return once
// it has: close them (the kernel sockets stay open in the new process).
// For an http.Server, see connTracker.
//
// lns must be the raw listeners (*net.TCPListener, not a tls.NewListener
// wrapper), 1 to 16 of them, named with [A-Za-z0-9._-]{1,64}. The
// directory of path must exist and be writable. A socket file left at path
// by a crashed process is removed if nothing answers on it; if a process
// answers, serveHandover returns errHandoverInUse; a non-socket file at
// path is an error and is left alone. The socket file has mode 0600.
//
// stop ends the serving goroutine: it aborts an exchange not yet committed,
// closes the unix listener, removes path (unless a completed hand-over has
// already done so; it never removes another process's socket), and waits
// for the goroutine to return. It is idempotent and does not close lns.
// onHandedOver runs on that goroutine after it has stopped serving; stop
// does not wait for it, so onHandedOver may block (run the whole drain) and
// may call stop.
func serveHandover(path string, lns map[string]net.Listener, release func(), onHandedOver func(), log zerolog.Logger) (stop func() error, err error) {
	if len(lns) == 0 || len(lns) > handoverMaxListeners {
		return nil, fmt.Errorf("serveHandover: %d listeners, want 1 to %d", len(lns), handoverMaxListeners)
	}
	s := &handoverServer{
		path:         path,
		lns:          make(map[string]fileListener, len(lns)),
		release:      release,
		onHandedOver: onHandedOver,
		log:          log,
		quit:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	for name, ln := range lns {
		fl, ok := ln.(fileListener)
		if !ok {
			return nil, fmt.Errorf("serveHandover: listener %q is a %T, which cannot hand over its socket; pass the raw *net.TCPListener", name, ln)
		}
		if !validHandoverName(name) {
			return nil, fmt.Errorf("serveHandover: bad listener name %q", name)
		}
		s.lns[name] = fl
		s.names = append(s.names, name)
	}
	slices.Sort(s.names)
	if s.ln, s.sock, err = listenHandover(path); err != nil {
		return nil, err
	}
	go s.serve()
	return s.stop, nil
}

// serve accepts hand-over requests one at a time. It returns when the unix
// listener is closed (by stop or by a completed hand-over).
func (s *handoverServer) serve() {
	handedOver := false
	defer func() {
		close(s.done)
		if handedOver {
			s.onHandedOver()
		}
	}()
	for {
		conn, err := s.ln.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Error().Err(err).Msg("handover: accept failed; retrying")
			select { // e.g. EMFILE: back off instead of spinning
			case <-s.quit:
				return
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		if s.handle(conn) {
			handedOver = true
			return
		}
	}
}

// handle runs one exchange and reports whether the hand-over completed.
func (s *handoverServer) handle(conn *net.UnixConn) bool {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		_ = conn.Close()
		return false
	}
	s.conn = conn
	s.mu.Unlock()

	committed, err := s.exchange(conn)
	_ = conn.Close()
	s.mu.Lock()
	s.conn = nil
	s.mu.Unlock()
	switch {
	case committed && err != nil:
		s.log.Error().Err(err).Msg("handover: released the listeners, but could not confirm to the new process")
	case committed:
		s.log.Info().Strs("listeners", s.names).Msg("handover: complete; the new process serves")
	case errors.Is(err, errHandoverNoRequest):
		s.log.Debug().Err(err).Msg("handover: peer left before asking")
	default:
		s.log.Warn().Err(err).Msg("handover: aborted; still serving")
	}
	return committed
}

// exchange speaks the old process's side of the protocol on conn.
func (s *handoverServer) exchange(conn *net.UnixConn) (committed bool, err error) {
	_ = conn.SetDeadline(time.Now().Add(handoverStepTimeout))
	m, err := readMsg(conn)
	if errors.Is(err, io.EOF) {
		return false, errHandoverNoRequest
	}
	if err != nil {
		if errors.Is(err, errHandoverVersion) {
			_ = writeMsg(conn, "error", []string{"unsupported", "protocol", "version"}, nil)
		}
		return false, fmt.Errorf("reading request: %w", err)
	}
	closeFDs(m.fds)
	if m.verb != "take" {
		_ = writeMsg(conn, "error", []string{"unexpected", "request"}, nil)
		return false, fmt.Errorf("%w: got %q, want take", errHandoverProtocol, m.verb)
	}

	files := make([]*os.File, 0, len(s.names))
	defer func() {
		for _, f := range files {
			_ = f.Close()
		}
	}()
	fds := make([]int, 0, len(s.names))
	for _, name := range s.names {
		f, err := s.lns[name].File()
		if err != nil {
			_ = writeMsg(conn, "error", []string{"listener", name, "unavailable"}, nil)
			return false, fmt.Errorf("duplicating listener %q: %w", name, err)
		}
		files = append(files, f)
		fds = append(fds, int(f.Fd()))
	}
	_ = conn.SetDeadline(time.Now().Add(handoverStepTimeout))
	if err := writeMsg(conn, "listeners", s.names, fds); err != nil {
		return false, fmt.Errorf("sending listeners: %w", err)
	}

	_ = conn.SetDeadline(time.Now().Add(handoverStepTimeout))
	m, err = readMsg(conn)
	if err != nil {
		return false, fmt.Errorf("waiting for ready: %w", err)
	}
	closeFDs(m.fds)
	if m.verb != "ready" {
		return false, fmt.Errorf("%w: got %q, want ready", errHandoverProtocol, m.verb)
	}

	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return false, errors.New("handover server stopped before committing")
	}
	s.conn = nil // committed: stop must not cut the acknowledgement
	s.mu.Unlock()
	s.release()
	err = s.closeSocket()
	_ = conn.SetDeadline(time.Now().Add(handoverStepTimeout))
	if werr := writeMsg(conn, "released", nil, nil); werr != nil {
		err = errors.Join(err, fmt.Errorf("sending released: %w", werr))
	}
	return true, err
}

// stop is the func returned by serveHandover.
func (s *handoverServer) stop() error {
	s.stopOnce.Do(func() {
		s.mu.Lock()
		s.stopped = true
		if s.conn != nil {
			_ = s.conn.Close()
		}
		s.mu.Unlock()
		close(s.quit)
		s.stopErr = s.closeSocket()
		<-s.done
	})
	return s.stopErr
}

// closeSocket removes path (if it is still our socket) and closes the unix
// listener, once.
func (s *handoverServer) closeSocket() error {
	s.closeOnce.Do(func() {
		var err error
		if fi, lerr := os.Lstat(s.path); lerr == nil && os.SameFile(fi, s.sock) {
			if rerr := os.Remove(s.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = fmt.Errorf("removing handover socket: %w", rerr)
			}
		}
		if cerr := s.ln.Close(); cerr != nil && !errors.Is(cerr, net.ErrClosed) {
			err = errors.Join(err, cerr)
		}
		s.closeErr = err
	})
	return s.closeErr
}

// listenHandover binds a unix socket at path with mode 0600 (see the
// Security section at the top of this file), replacing a stale socket file.
func listenHandover(path string) (*net.UnixListener, os.FileInfo, error) {
	tmpDir, err := os.MkdirTemp(filepath.Dir(path), ".handover") // mode 0700
	if err != nil {
		return nil, nil, fmt.Errorf("handover socket: %w", err)
	}
	defer os.RemoveAll(tmpDir) // the socket stays reachable through its link at path
	tmp := filepath.Join(tmpDir, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, nil, fmt.Errorf("handover socket: %w", err)
	}
	ln.SetUnlinkOnClose(false) // closeSocket removes path, and only if still ours
	fail := func(err error) (*net.UnixListener, os.FileInfo, error) {
		_ = ln.Close()
		return nil, nil, fmt.Errorf("handover socket: %w", err)
	}
	if err := os.Chmod(tmp, handoverSocketMode); err != nil {
		return fail(err)
	}
	err = os.Link(tmp, path)
	if errors.Is(err, fs.ErrExist) {
		if err = removeStaleSocket(path); err == nil {
			err = os.Link(tmp, path)
		}
	}
	if err != nil {
		return fail(err)
	}
	sock, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	return ln, sock, nil
}

// removeStaleSocket removes the socket file at path if nothing answers on
// it. It returns errHandoverInUse if a process answers, and an error if
// path is not a socket.
func removeStaleSocket(path string) error {
	before, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if before.Mode().Type() != fs.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket; not removing it", path)
	}
	conn, err := net.DialTimeout("unix", path, handoverStepTimeout)
	if err == nil {
		_ = conn.Close()
		return fmt.Errorf("%s: %w", path, errHandoverInUse)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("probing %s: %w", path, err)
	}
	// Nobody listens: a crashed process left it. Remove it unless it was
	// replaced meanwhile.
	after, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !os.SameFile(before, after) {
		return fmt.Errorf("%s: %w", path, errHandoverInUse)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
