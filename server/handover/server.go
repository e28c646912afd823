package handover

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// server is the old process's end: it serves hand-over requests on a unix
// socket, one at a time, until one completes or stop is called.
type server struct {
	path         string
	ln           *net.UnixListener
	sock         os.FileInfo // the socket file at path, so that we remove only our own
	names        []string    // sorted keys of lns
	lns          map[string]fileListener
	release      func()
	onHandedOver func()
	log          zerolog.Logger
	step         time.Duration // deadline of each protocol step

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

// Serve listens on path and serves hand-over requests for lns (see the
// package doc) in a goroutine: it sends the listeners' FDs with their
// names, waits for "ready", then calls release, closes its unix listener,
// removes path, acknowledges, and calls onHandedOver (where the caller
// starts its graceful drain). One hand-over per process: once one
// completes, Serve serves no more requests. A request that fails before
// "ready" (each step waits at most 10 s) leaves this process serving as
// before, and the next request is served.
//
// release must make this process stop accepting on lns, and return once
// it has: close them (the kernel sockets stay open in the new process).
// For an http.Server, see [ConnTracker].
//
// lns must be the raw listeners (*net.TCPListener or *net.UnixListener,
// not a tls.NewListener wrapper), 1 to 16 of them, named with
// [A-Za-z0-9._-]{1,64}; otherwise Serve returns an error and creates
// nothing at path. The directory of path must exist and be writable. A
// socket file left at path by a crashed process is removed if nothing
// answers on it; if a process answers, Serve returns an error wrapping
// [ErrInUse]; a non-socket file at path is an error and is left alone. The
// socket file has mode 0600. log gets one line per exchange.
//
// stop ends the serving goroutine: it aborts an exchange not yet
// committed, closes the unix listener, removes path (unless a completed
// hand-over has already done so; it never removes another process's
// socket), and waits for the goroutine to return. It is idempotent and
// does not close lns. onHandedOver runs on that goroutine after it has
// stopped serving; stop does not wait for it, so onHandedOver may block
// (run the whole drain) and may call stop. Call stop on shutdown too:
// otherwise the socket file stays at path (a later Serve removes it as
// stale).
func Serve(path string, lns map[string]net.Listener, release func(), onHandedOver func(), log zerolog.Logger) (stop func() error, err error) {
	return start(path, lns, release, onHandedOver, log, stepTimeout)
}

// start is Serve with step as the deadline of each protocol step.
func start(path string, lns map[string]net.Listener, release func(), onHandedOver func(), log zerolog.Logger, step time.Duration) (stop func() error, err error) {
	if len(lns) == 0 || len(lns) > maxListeners {
		return nil, fmt.Errorf("handover: %d listeners, want 1 to %d", len(lns), maxListeners)
	}
	s := &server{
		path:         path,
		lns:          make(map[string]fileListener, len(lns)),
		release:      release,
		onHandedOver: onHandedOver,
		log:          log,
		step:         step,
		quit:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	for name, ln := range lns {
		fl, ok := ln.(fileListener)
		if !ok {
			return nil, fmt.Errorf("handover: listener %q is a %T, which cannot hand over its socket; pass the raw *net.TCPListener", name, ln)
		}
		if !validName(name) {
			return nil, fmt.Errorf("handover: bad listener name %q", name)
		}
		s.lns[name] = fl
		s.names = append(s.names, name)
	}
	slices.Sort(s.names)
	if s.ln, s.sock, err = listenSocket(path); err != nil {
		return nil, err
	}
	go s.serve()
	return s.stop, nil
}

// serve accepts hand-over requests one at a time. It returns when the unix
// listener is closed (by stop or by a completed hand-over).
func (s *server) serve() {
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
func (s *server) handle(conn *net.UnixConn) bool {
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
	case errors.Is(err, errNoRequest):
		s.log.Debug().Err(err).Msg("handover: peer left before asking")
	default:
		s.log.Warn().Err(err).Msg("handover: aborted; still serving")
	}
	return committed
}

// exchange speaks the old process's side of the protocol on conn.
func (s *server) exchange(conn *net.UnixConn) (committed bool, err error) {
	_ = conn.SetDeadline(time.Now().Add(s.step))
	m, err := readMsg(conn)
	if errors.Is(err, io.EOF) {
		return false, errNoRequest
	}
	if err != nil {
		if errors.Is(err, ErrVersion) {
			_ = writeMsg(conn, "error", []string{"unsupported", "protocol", "version"}, nil)
		}
		return false, fmt.Errorf("reading request: %w", err)
	}
	closeFDs(m.fds)
	if m.verb != "take" {
		_ = writeMsg(conn, "error", []string{"unexpected", "request"}, nil)
		return false, fmt.Errorf("%w: got %q, want take", ErrProtocol, m.verb)
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
	_ = conn.SetDeadline(time.Now().Add(s.step))
	if err := writeMsg(conn, "listeners", s.names, fds); err != nil {
		return false, fmt.Errorf("sending listeners: %w", err)
	}

	_ = conn.SetDeadline(time.Now().Add(s.step))
	m, err = readMsg(conn)
	if err != nil {
		return false, fmt.Errorf("waiting for ready: %w", err)
	}
	closeFDs(m.fds)
	if m.verb != "ready" {
		return false, fmt.Errorf("%w: got %q, want ready", ErrProtocol, m.verb)
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
	_ = conn.SetDeadline(time.Now().Add(s.step))
	if werr := writeMsg(conn, "released", nil, nil); werr != nil {
		err = errors.Join(err, fmt.Errorf("sending released: %w", werr))
	}
	return true, err
}

// stop is the func returned by Serve.
func (s *server) stop() error {
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
