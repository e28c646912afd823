//go:build unix

// Package redistest starts real redis-server processes for tests: a
// standalone server (Start), a Redis Cluster (StartCluster) and a master
// watched by a Sentinel (StartSentinel), and a standalone server or a
// Cluster that speak only TLS (StartTLS, StartClusterTLS). It is the one
// place in Sidecar where tests launch Redis.
//
// Every server listens on a free loopback port with persistence off
// (--save "" --appendonly no) and its working directory in t.TempDir().
// If a chosen port turns out to be taken, another is tried. A helper
// returns only once every process answers PING (and, for a cluster, every
// node reports cluster_state:ok), waiting at most a bounded time and
// failing the test if that passes. Processes are killed by t.Cleanup; on
// Linux they are also started with a parent-death signal, so a test binary
// that dies (a panic, a timeout) does not leave them running.
//
// The package needs a Unix system (it signals processes). redis-server
// (7.0 or later) must be on PATH. When it is not, the helpers
// fail the test with instructions (apt-get install redis-server); they
// never skip, so a CI job without Redis fails loudly instead of passing
// vacuously.
//
// Clients from the Client methods have ContextTimeoutEnabled set, so a
// request context's deadline bounds every socket read and write, and are
// closed by t.Cleanup. Server.Pause (SIGSTOP) simulates a Redis that hangs.
package redistest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// readyTimeout bounds the wait for a started process to answer PING.
	readyTimeout = 10 * time.Second
	// stopTimeout bounds the wait for a process to exit after SIGTERM,
	// after which it is killed.
	stopTimeout = 10 * time.Second
	// pingTimeout bounds one PING attempt while waiting for a server.
	pingTimeout = 250 * time.Millisecond
	// portAttempts is how many free ports are tried before giving up.
	portAttempts = 5
	// logTail is how much of a server's log a failure message quotes.
	logTail = 2048
)

// Server is one redis-server process on a fixed loopback port. Its methods
// fail the test that started it on error, so call them from that test's
// goroutine. It is safe for concurrent use.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int
	conf string // config file given first on the command line, or ""
	tls  *TLS   // the server listens for TLS only; nil: plain
	// args builds the command line for port; set once by start.
	args func(port int) []string

	mu     sync.Mutex
	cmd    *exec.Cmd     // the running (or last) process; nil before the first start
	exited chan struct{} // closed when cmd has exited
}

// Start starts a standalone redis-server on a free loopback port with
// persistence off and its directory in t.TempDir(), appends extraArgs to
// its command line (e.g. "--maxmemory", "1mb"), waits until it answers
// PING and registers its shutdown with t.Cleanup.
func Start(t testing.TB, extraArgs ...string) *Server {
	t.Helper()
	return start(t, "", nil, func(int) []string { return extraArgs })
}

// start starts a server with the config file conf ("" for none), over TLS
// when tlsOpts is not nil, whose extra arguments come from extra, called
// once per port attempt (so a caller can pick further free ports with it).
func start(t testing.TB, conf string, tlsOpts *TLS, extra func(port int) []string) *Server {
	t.Helper()
	bin := redisServerPath(t)
	dir := t.TempDir()
	s := &Server{t: t, bin: bin, dir: dir, conf: conf, tls: tlsOpts}
	t.Cleanup(s.kill)

	var errs []error
	for range portAttempts {
		port := FreePort(t)
		more := extra(port)
		args := func(port int) []string { return s.baseArgs(port, more) }
		if err := s.launch(port, args); err != nil {
			errs = append(errs, err)
			continue
		}
		s.port, s.args = port, args
		return s
	}
	t.Fatalf("redistest: could not start redis-server after %d attempts: %v", portAttempts, errors.Join(errs...))
	return nil
}

// baseArgs is the command line of a server on port: the config file if
// any (redis-server wants it first), loopback only, no persistence,
// working directory in dir, then extra.
func (s *Server) baseArgs(port int, extra []string) []string {
	var args []string
	if s.conf != "" {
		args = append(args, s.conf)
	}
	args = append(args, s.portArgs(port)...)
	args = append(args,
		"--bind", "127.0.0.1",
		"--save", "",
		"--appendonly", "no",
		"--dir", s.dir,
	)
	return append(args, extra...)
}

// redisServerPath finds redis-server or fails t with how to install it.
func redisServerPath(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: redis-server is not on PATH (%v); these tests need a real Redis 7+: "+
			"install it with `apt-get install redis-server` (Debian/Ubuntu), "+
			"`apk add redis` (Alpine) or `brew install redis` (macOS)", err)
	}
	return bin
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. A
// caller that then fails to bind it should try another.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: finding a free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		t.Fatalf("redistest: finding a free port: %v", err)
	}
	return port
}

// launch starts the process on port and waits until it answers PING.
func (s *Server) launch(port int, args func(int) []string) error {
	logPath := filepath.Join(s.dir, "redis.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("creating log file: %w", err)
	}
	defer logFile.Close() // the child has its own descriptor

	cmd := exec.Command(s.bin, args(port)...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", s.bin, err)
	}
	exited := make(chan struct{})
	// Exits when the process does; every path that stops using the
	// process (kill, Stop, a failed start) kills it first.
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if err := waitPing(addr, s.clientTLS(), exited); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return fmt.Errorf("redis-server on port %d: %w; log:\n%s", port, err, tail(logPath))
	}
	return nil
}

// waitPing polls addr with PING (over TLS with conf, when not nil) until
// it answers PONG, exited is closed or readyTimeout passes.
func waitPing(addr string, conf *tls.Config, exited <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	var last error
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		if last = ping(addr, conf); last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no PONG within %v: %w", readyTimeout, last)
		}
		timer := time.NewTimer(backoff)
		select {
		case <-exited:
			timer.Stop()
			return fmt.Errorf("process exited before answering PING (last try: %w)", last)
		case <-timer.C:
		}
	}
}

// ping sends one PING over a fresh connection (TLS with conf, when not
// nil) and expects +PONG.
func ping(addr string, conf *tls.Config) error {
	d := &net.Dialer{Timeout: pingTimeout}
	var conn net.Conn
	var err error
	if conf != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, conf)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(pingTimeout)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if line = strings.TrimSpace(line); line != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}

// tail returns the end of the file at path, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading log: %v)", err)
	}
	if len(b) > logTail {
		b = b[len(b)-logTail:]
	}
	return string(b)
}

// Addr returns the server's host:port.
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Port returns the server's port.
func (s *Server) Port() int { return s.port }

// Dir returns the server's working directory.
func (s *Server) Dir() string { return s.dir }

// Client returns a go-redis client for the server with
// ContextTimeoutEnabled set (over TLS with TLS.Client for a server from
// StartTLS). t.Cleanup closes it.
func (s *Server) Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	c := redis.NewClient(s.options())
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// running returns the current process and its exit channel, or nil if it
// has exited.
func (s *Server) running() (*exec.Cmd, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil, nil
	}
	select {
	case <-s.exited:
		return nil, nil
	default:
		return s.cmd, s.exited
	}
}

// Stop shuts the server down with SIGTERM and waits for it to exit
// (killing it if it takes longer than 10s). Stopping a stopped server
// does nothing. Stop resumes a paused server first.
func (s *Server) Stop() {
	s.t.Helper()
	cmd, exited := s.running()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatalf("redistest: stopping %s: %v", s.Addr(), err)
	}
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-exited:
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-exited
		s.t.Fatalf("redistest: %s did not exit within %v of SIGTERM; killed it", s.Addr(), stopTimeout)
	}
}

// Start starts a stopped (or killed) server again on the same port and
// waits until it answers PING. The data is gone: persistence is off.
// Starting a running server fails the test.
func (s *Server) Start() {
	s.t.Helper()
	if cmd, _ := s.running(); cmd != nil {
		s.t.Fatalf("redistest: Start: %s is already running", s.Addr())
	}
	if err := s.launch(s.port, s.args); err != nil {
		s.t.Fatalf("redistest: restarting on %s: %v", s.Addr(), err)
	}
}

// Restart stops the server and starts it again on the same port.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.Start()
}

// Pause freezes the process with SIGSTOP: connections stay open but get
// no answers, as with a hung Redis. Resume undoes it; cleanup kills a
// paused server too.
func (s *Server) Pause() { s.signal("Pause", syscall.SIGSTOP) }

// Resume continues a paused server with SIGCONT.
func (s *Server) Resume() { s.signal("Resume", syscall.SIGCONT) }

// Drain returns once the server has processed every command sent to it
// before the call, on any connection: it waits for a PING on a fresh
// connection to be answered (at most 10s). A resumed server handles the
// sockets that were readable when it stopped, the commands queued in
// them included, in the event loop iteration that accepts the new
// connection, before it can read the PING. Use it after Resume to see
// what commands that reached a paused server did.
func (s *Server) Drain() {
	s.t.Helper()
	_, exited := s.running()
	if exited == nil {
		s.t.Fatalf("redistest: Drain: %s is not running", s.Addr())
	}
	if err := waitPing(s.Addr(), s.clientTLS(), exited); err != nil {
		s.t.Fatalf("redistest: Drain %s: %v", s.Addr(), err)
	}
}

// signal sends sig to the running process.
func (s *Server) signal(op string, sig syscall.Signal) {
	s.t.Helper()
	cmd, _ := s.running()
	if cmd == nil {
		s.t.Fatalf("redistest: %s: %s is not running", op, s.Addr())
	}
	if err := cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: %s %s: %v", op, s.Addr(), err)
	}
}

// Kill kills the server with SIGKILL (a crash) and waits for it to exit.
// Killing a stopped server does nothing.
func (s *Server) Kill() { s.kill() }

// kill is Kill without a test to fail; cleanup calls it.
func (s *Server) kill() {
	cmd, exited := s.running()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}
