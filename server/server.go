// Package server runs Sidecar's listeners: the proxy's http.Server and the
// side servers (the admin API, the lock service, the plain-HTTP
// listener next to a TLS proxy and the operations listener), with
// connection tracking, draining, graceful Shutdown and the zero-downtime
// listener hand-over of package handover.
//
// It knows nothing of configuration files: a Server is built from plain
// Go values (Options) by cmd/sidecar/app, and tests start it on ":0"
// ports:
//
//	srv := server.New(server.Options{Listen: ":0", Handler: h})
//	if err := srv.Run(ctx); err != nil { ... } // returns once listening
//	defer srv.Shutdown(context.Background())   // drains, then closes
//
// # Draining
//
// Shutdown stops accepting, answers every connection already accepted
// (kept-alive connections get "Connection: close" on their next answer,
// idle ones are closed after a one-second grace), waits for in-flight
// requests and upgraded connections such as WebSockets, and cuts what
// remains when ShutdownTimeout or its context ends. The same drain runs
// in an old process after a new one took its listeners over.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/server/handover"
)

// The defaults of Options' zero values.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultShutdownTimeout   = 30 * time.Second
)

// keepAliveGrace is how long busy kept-alive client connections get to
// send one more request (answered with Connection: close) before the idle
// ones are closed. Closing an idle connection races with a client starting
// a request on it, which a client may not retry (a POST); with the grace,
// a client under load has already been told to close.
const keepAliveGrace = time.Second

// The names under which listeners are handed over; a new process finds
// each of its listeners by these.
const (
	listenerHTTP  = "http"
	listenerAdmin = "admin"
	listenerLocks = "locks"
	listenerPlain = "plain_http"
	listenerOps   = "ops"
)

// Options configures a Server. Only Handler is required; every other zero
// value is a stated default.
type Options struct {
	// Handler serves the proxy's requests. Required.
	Handler http.Handler
	// Listen is the proxy's TCP address, e.g. ":8080" or "127.0.0.1:0".
	// Empty means ":http".
	Listen string
	// TLSConfig, when non-nil, serves the proxy over TLS on Listen (the
	// side servers stay plain HTTP).
	TLSConfig *tls.Config
	// ReadHeaderTimeout bounds reading a request's headers, on every
	// listener. Zero means DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a kept-alive client connection idle this long.
	// Zero means DefaultIdleTimeout.
	IdleTimeout time.Duration
	// ShutdownTimeout bounds Shutdown's drain. Zero means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// MaxHeaderBytes bounds the request head the proxy's listener reads
	// (http.Server.MaxHeaderBytes: net/http reads up to 4096 bytes more,
	// plus on a kept-alive connection what it had read ahead, and answers
	// 431 past that itself); the handler enforces an exact limit below
	// it. Zero means http.DefaultMaxHeaderBytes (1 MiB).
	MaxHeaderBytes int
	// Admin is the admin API's listener; the zero value serves none.
	Admin Side
	// Locks is the app lock service's listener; the zero value serves
	// none.
	Locks Side
	// PlainHTTP is the plain-HTTP listener next to a TLS proxy, whose
	// handler redirects to HTTPS and answers ACME HTTP-01 challenges; the
	// zero value serves none. It is drained and handed over like the
	// others.
	PlainHTTP Side
	// Ops is the operations listener (probes and metrics); the zero value
	// serves none. It is drained and handed over like the others.
	Ops Side
	// HandoverSocket, when set, is the unix socket path through which a
	// new process takes the listeners over (and through which this one
	// takes them from a running one at Run). Empty disables hand-over.
	HandoverSocket string
	// Logger receives the server's own lines and net/http's error log.
	// The zero value discards them.
	Logger zerolog.Logger
}

// Side is a side server: a handler on its own plain-HTTP listener.
type Side struct {
	// Listen is the TCP address; empty disables the side server.
	Listen string
	// Handler serves its requests; required when Listen is set.
	Handler http.Handler
}

// Server is Sidecar's set of listeners. Create it with New, start it with
// Run, stop it with Shutdown once Run has returned; it is not reusable
// after Shutdown. Once Run has returned, its methods are safe for
// concurrent use, and the address methods return "" when Run failed.
type Server struct {
	opts Options
	log  zerolog.Logger

	proxy          *http.Server
	ln, rawLn      net.Listener // rawLn is the TCP listener under any TLS wrapper
	admin, locks   *sideServer
	plain          *sideServer    // Options.PlainHTTP
	ops            *sideServer    // Options.Ops
	served         chan struct{}  // closed when the proxy's serve loop returned
	handlers       sync.WaitGroup // requests being served, upgraded ones included
	base           context.Context
	cutoff         context.CancelFunc // ends every request context: Shutdown's last resort
	serveErr       error
	conns          *handover.ConnTracker
	stopHandover   func() error
	stopOnce       sync.Once
	accepting      atomic.Bool
	draining       atomic.Bool // answers carry Connection: close
	handedOver     chan struct{}
	handedOverOnce sync.Once
}

// sideServer is one running side server.
type sideServer struct {
	srv *http.Server
	ln  net.Listener
}

// New returns a Server for opts. It opens nothing yet.
func New(opts Options) *Server {
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	return &Server{
		opts:       opts,
		log:        opts.Logger,
		served:     make(chan struct{}),
		conns:      handover.NewConnTracker(),
		handedOver: make(chan struct{}),
	}
}

// Run starts serving: it takes the listeners over from a running Sidecar
// when HandoverSocket is set and one answers there, else binds its own,
// and returns once every listener is open (Addr is then valid) or with
// the first error, in which case everything opened is closed again and an
// old process keeps serving.
func (s *Server) Run(ctx context.Context) (err error) {
	if s.opts.Handler == nil {
		return errors.New("server: Options.Handler is nil")
	}
	var opened []net.Listener
	defer func() {
		if err != nil {
			for _, ln := range opened {
				_ = ln.Close()
			}
		}
	}()
	inherited, hc, err := s.inherit(ctx)
	if err != nil {
		return err
	}
	if hc != nil {
		defer func() {
			if err != nil {
				_ = hc.Close() // the old process keeps serving
			}
		}()
	}
	if s.rawLn, err = listen(inherited[listenerHTTP], s.opts.Listen, "listen"); err != nil {
		return err
	}
	opened = append(opened, s.rawLn)
	s.ln = s.rawLn
	if s.opts.TLSConfig != nil {
		s.ln = tls.NewListener(s.rawLn, s.opts.TLSConfig)
	}
	if s.admin, err = s.openSide(s.opts.Admin, inherited[listenerAdmin], "admin.listen"); err != nil {
		return err
	}
	if s.admin != nil {
		opened = append(opened, s.admin.ln)
	}
	if s.locks, err = s.openSide(s.opts.Locks, inherited[listenerLocks], "lock_service.listen"); err != nil {
		return err
	}
	if s.locks != nil {
		opened = append(opened, s.locks.ln)
	}
	if s.plain, err = s.openSide(s.opts.PlainHTTP, inherited[listenerPlain], "tls.http_listen"); err != nil {
		return err
	}
	if s.plain != nil {
		opened = append(opened, s.plain.ln)
	}
	if s.ops, err = s.openSide(s.opts.Ops, inherited[listenerOps], "ops.listen"); err != nil {
		return err
	}
	if s.ops != nil {
		opened = append(opened, s.ops.ln)
	}

	s.base, s.cutoff = context.WithCancel(context.Background())
	s.proxy = &http.Server{
		Handler:           s.track(s.opts.Handler),
		BaseContext:       func(net.Listener) context.Context { return s.base },
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		MaxHeaderBytes:    s.opts.MaxHeaderBytes,
		TLSConfig:         s.opts.TLSConfig,
		ErrorLog:          log.New(errorLog{s.log}, "", 0),
		ConnState:         s.conns.ConnState,
	}
	s.accepting.Store(true)
	go s.serve()
	s.serveSide("admin", s.admin)
	s.serveSide("lock_service", s.locks)
	s.serveSide("http_listen", s.plain)
	s.serveSide("ops", s.ops)
	s.log.Info().Str("listen", s.ln.Addr().String()).Bool("tls", s.opts.TLSConfig != nil).
		Bool("inherited", hc != nil).Msg("sidecar serving")
	if hc != nil {
		if err := hc.Ready(ctx); err != nil {
			s.log.Warn().Err(err).Msg("handover: the old process did not confirm; both may accept until it exits")
		} else {
			s.log.Info().Msg("handover: took over the listening socket; the old process is draining")
		}
		if err := s.offerHandover(); err != nil {
			// The old process is letting go of the listeners: failing
			// now would leave nobody serving.
			s.log.Error().Err(err).Msg("handover: cannot offer the listeners to a next process; the next upgrade must be a restart")
		}
		return nil
	}
	return s.offerHandover()
}

// listen returns inherited when it is set, else a new TCP listener on
// addr; key names the setting in errors.
func listen(inherited net.Listener, addr, key string) (net.Listener, error) {
	if inherited != nil {
		return inherited, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	return ln, nil
}

// inherit takes the listening sockets over from a running Sidecar when
// HandoverSocket is set and one answers there.
func (s *Server) inherit(ctx context.Context) (map[string]net.Listener, *handover.Client, error) {
	if s.opts.HandoverSocket == "" {
		return nil, nil, nil
	}
	lns, hc, err := handover.TakeOver(ctx, s.opts.HandoverSocket)
	if err != nil {
		return nil, nil, fmt.Errorf("server.handover_socket: taking over: %w", err)
	}
	return lns, hc, nil
}

// offerHandover serves the hand-over socket so that the next Sidecar can
// take this one's listeners over.
func (s *Server) offerHandover() error {
	if s.opts.HandoverSocket == "" {
		return nil
	}
	lns := map[string]net.Listener{listenerHTTP: s.rawLn}
	if s.admin != nil {
		lns[listenerAdmin] = s.admin.ln
	}
	if s.locks != nil {
		lns[listenerLocks] = s.locks.ln
	}
	if s.plain != nil {
		lns[listenerPlain] = s.plain.ln
	}
	if s.ops != nil {
		lns[listenerOps] = s.ops.ln
	}
	stop, err := handover.Serve(s.opts.HandoverSocket, lns, s.stopAccepting,
		func() { s.handedOverOnce.Do(func() { close(s.handedOver) }) },
		s.log.With().Str("log", "handover").Logger())
	if err != nil {
		return fmt.Errorf("server.handover_socket: %w", err)
	}
	s.stopHandover = stop
	return nil
}

// HandedOver is closed when a new Sidecar has taken this one's listeners:
// the caller should then Shutdown (which drains) and exit.
func (s *Server) HandedOver() <-chan struct{} { return s.handedOver }

// Wait blocks until ctx ends or a new process took the listeners over,
// calling onReload (when non-nil) for each value received on reloads
// meanwhile, one at a time: the loop a program runs between Run and
// Shutdown, with reloads fed by SIGHUP.
func (s *Server) Wait(ctx context.Context, reloads <-chan os.Signal, onReload func()) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.handedOver:
			s.log.Info().Msg("a new sidecar took over the listeners")
			return
		case <-reloads:
			if onReload != nil {
				onReload()
			}
		}
	}
}

// Addr is the proxy's listening address (useful with ":0"), or "" before
// a successful Run.
func (s *Server) Addr() string {
	if s.ln == nil || s.proxy == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// PlainHTTPAddr is the plain-HTTP listener's address, or "" when it is
// off.
func (s *Server) PlainHTTPAddr() string { return s.plain.addr() }

// AdminAddr is the admin API's address, or "" when it is off.
func (s *Server) AdminAddr() string { return s.admin.addr() }

// LockServiceAddr is the lock service's address, or "" when it is off.
func (s *Server) LockServiceAddr() string { return s.locks.addr() }

// OpsAddr is the operations listener's address, or "" when it is off.
func (s *Server) OpsAddr() string { return s.ops.addr() }

func (ss *sideServer) addr() string {
	if ss == nil {
		return ""
	}
	return ss.ln.Addr().String()
}

// openSide opens the listener of a side server when it is enabled: the
// one inherited in a hand-over, or a new one on side.Listen.
func (s *Server) openSide(side Side, inherited net.Listener, key string) (*sideServer, error) {
	if side.Listen == "" {
		return nil, nil
	}
	if side.Handler == nil {
		return nil, fmt.Errorf("%s: no handler", key)
	}
	ln, err := listen(inherited, side.Listen, key)
	if err != nil {
		return nil, err
	}
	return &sideServer{ln: ln, srv: &http.Server{
		Handler:           side.Handler,
		ReadHeaderTimeout: s.opts.ReadHeaderTimeout,
		IdleTimeout:       s.opts.IdleTimeout,
		ErrorLog:          log.New(errorLog{s.log}, "", 0),
	}}, nil
}

// serveSide serves a side server. Its goroutine exits when Shutdown
// closes the server, or stopAccepting its listener.
func (s *Server) serveSide(name string, ss *sideServer) {
	if ss == nil {
		return
	}
	go func() {
		err := ss.srv.Serve(ss.ln)
		if errors.Is(err, net.ErrClosed) && !s.accepting.Load() {
			return // stopAccepting closed it
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error().Err(err).Str("server", name).Msg("side server stopped")
		}
	}()
	s.log.Info().Str(name, ss.ln.Addr().String()).Msgf("%s serving", name)
}

// serve runs the proxy's HTTP server until Shutdown; it exits when the
// listener is closed.
func (s *Server) serve() {
	defer close(s.served)
	err := s.proxy.Serve(s.ln)
	if errors.Is(err, net.ErrClosed) && !s.accepting.Load() {
		return // stopAccepting closed the listener
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.serveErr = err
		s.log.Error().Err(err).Msg("serve loop stopped")
	}
}

// track counts requests in flight: http.Server.Shutdown does not wait for
// upgraded (hijacked) connections such as WebSockets; this count does.
func (s *Server) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.handlers.Add(1)
		defer s.handlers.Done()
		if s.draining.Load() {
			// Close each kept-alive connection after its next answer
			// rather than under a client that may be writing on it.
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// stopAccepting closes this process's copies of the listeners (in a
// hand-over the kernel sockets stay open in the new process) and starts
// answering with Connection: close, so each kept-alive connection closes
// after its next answer. Once it returns the serve loop has exited and
// every accepted connection is tracked for the drain.
func (s *Server) stopAccepting() {
	s.stopOnce.Do(func() {
		if s.proxy == nil || !s.accepting.Load() {
			return
		}
		s.accepting.Store(false)
		s.draining.Store(true)
		_ = s.ln.Close()
		for _, ss := range []*sideServer{s.admin, s.locks, s.plain, s.ops} {
			if ss != nil {
				_ = ss.ln.Close()
			}
		}
		<-s.served
	})
}

// closeIdleAfterGrace waits until every connection has closed, or the
// grace (bounded by ctx) passes, then closes the idle rest.
func (s *Server) closeIdleAfterGrace(ctx context.Context) {
	grace, cancel := context.WithTimeout(ctx, keepAliveGrace)
	defer cancel()
	if s.conns.Wait(grace) == nil {
		return
	}
	s.proxy.SetKeepAlivesEnabled(false) // closes idle connections now
}

// Shutdown stops accepting connections and lets in-flight requests (and
// upgraded connections) finish until ctx is done or ShutdownTimeout
// passes, whichever is first, then cuts what remains. It returns the
// serve loop's error, if it failed, or the drain's timeout. Calling it on
// a Server that never ran is a no-op.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.proxy == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.ShutdownTimeout)
	defer cancel()
	start := time.Now()
	for _, ss := range []*sideServer{s.admin, s.locks, s.plain, s.ops} {
		if ss != nil {
			defer func() { _ = ss.srv.Close() }()
		}
	}
	if s.stopHandover != nil {
		_ = s.stopHandover()
	}
	// Stop accepting first and answer every connection already accepted:
	// http.Server.Shutdown alone drops a connection whose first request it
	// reads after shutdown began.
	s.stopAccepting()
	s.closeIdleAfterGrace(ctx)
	if werr := s.conns.Wait(ctx); werr != nil {
		s.log.Warn().Err(werr).Msg("shutdown timeout: connections still open")
	}
	var err error
	if err = s.proxy.Shutdown(ctx); err != nil {
		s.log.Warn().Err(err).Msg("shutdown timeout: closing remaining connections")
		err = errors.Join(err, s.proxy.Close())
	}
	handlersDone := make(chan struct{})
	go func() { s.handlers.Wait(); close(handlersDone) }() // exits when the last handler returns
	select {
	case <-handlersDone:
	case <-ctx.Done():
		s.log.Warn().Msg("shutdown timeout: cutting upgraded connections")
		s.cutoff() // ends request contexts; the ReverseProxy closes tunnels
		<-handlersDone
	}
	s.cutoff()
	s.log.Info().Dur("drained_in", time.Since(start)).Msg("sidecar stopped")
	return errors.Join(err, s.serveErr)
}

// errorLog sends net/http's own error lines (TLS handshake errors, panics
// in handlers) to the structured log.
type errorLog struct{ log zerolog.Logger }

func (w errorLog) Write(p []byte) (int, error) {
	msg := string(p)
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1]
	}
	w.log.Warn().Str("log", "http").Msg(msg)
	return len(p), nil
}
