// Package server is the whole Sidecar program as a value: Main builds the
// store, the session manager and the proxy from a config.Config, listens,
// serves, and shuts down gracefully. cmd/sidecar wraps it with flags and
// signals; tests start it in-process on ":0" ports.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/proxy/admin"
	"github.com/sidecarproxy/sidecar/proxy/lockservice"
	"github.com/sidecarproxy/sidecar/sessions"
)

// Main is one running Sidecar. Create it with New, start it with Run, stop
// it with Shutdown. It is not reusable after Shutdown.
type Main struct {
	cfg      *config.Config
	log      zerolog.Logger
	level    *levelFilter
	pool     *proxy.Pool
	reloadMu sync.Mutex // one reload at a time; guards cfg after Run

	store     sessions.Store
	closers   []func() error // run in reverse order by Shutdown
	srv       *http.Server
	ln        net.Listener
	admin     *http.Server
	adminLn   net.Listener
	served    chan struct{}  // closed when the serve loop has returned
	handlers  sync.WaitGroup // requests being served, upgraded ones included
	base      context.Context
	cutoff    context.CancelFunc // ends every request context: last resort of Shutdown
	serveErr  error
	closeOnce sync.Once

	// Zero-downtime upgrades (server.handover_socket).
	rawLn        net.Listener // the TCP listener under any TLS wrapper
	rawAdminLn   net.Listener
	locker       *lock.Locker
	locksLn      net.Listener
	locksSrv     *http.Server
	conns        *connTracker
	stopHandover func() error
	stopOnce     sync.Once
	accepting    atomic.Bool
	draining     atomic.Bool // answers carry Connection: close
	handedOver   chan struct{}
}

// New returns a Main for cfg, logging JSON (or console text, per
// cfg.Log.Format) to out. It opens nothing yet.
func New(cfg *config.Config, out io.Writer) (*Main, error) {
	logger, level, err := newLogger(cfg.Log, out)
	if err != nil {
		return nil, err
	}
	return &Main{
		cfg: cfg, log: logger, level: level,
		served: make(chan struct{}), conns: newConnTracker(), handedOver: make(chan struct{}),
	}, nil
}

// Logger is the program's logger.
func (m *Main) Logger() *zerolog.Logger { return &m.log }

// Run opens the store, builds the proxy and starts serving on
// cfg.Listen. It returns once the listener is open (Addr is then valid) or
// with the first error; on error everything opened so far is closed.
func (m *Main) Run(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			m.closeAll()
		}
	}()
	if m.cfg.Server.HandoverEnabled() && m.cfg.Store.Type == config.StoreBolt {
		return fmt.Errorf("server.handover_socket: needs store.type redis or memory: the bolt file stays locked by the running process until it has drained")
	}
	if m.cfg.UsesExampleSecrets() {
		m.log.Warn().Msg("running with the example secrets from config.example.yaml: anyone can forge cookies and session headers; set your own before exposing this instance")
	}
	store, closeStore, storeRedis, err := openStore(ctx, m.cfg.Store, m.log)
	if err != nil {
		return err
	}
	m.store = store
	m.closers = append(m.closers, closeStore)
	if err := m.openLocker(storeRedis); err != nil {
		return err
	}

	handler, err := m.buildProxy()
	if err != nil {
		return err
	}
	tlsConf, err := m.tlsConfig(ctx)
	if err != nil {
		return err
	}
	m.base, m.cutoff = context.WithCancel(context.Background())
	m.srv = &http.Server{
		Handler:           m.track(handler),
		BaseContext:       func(net.Listener) context.Context { return m.base },
		ReadHeaderTimeout: m.cfg.Server.ReadHeaderTimeout,
		IdleTimeout:       m.cfg.Server.IdleTimeout,
		TLSConfig:         tlsConf,
		ErrorLog:          log.New(serverErrorLog{m.log}, "", 0),
	}
	m.srv.ConnState = m.conns.connState
	inherited, hc, err := m.inherit(ctx)
	if err != nil {
		return err
	}
	if hc != nil {
		defer func() {
			if err != nil {
				_ = hc.close() // the old process keeps serving
			}
		}()
	}
	if m.rawLn = inherited["http"]; m.rawLn == nil {
		if m.rawLn, err = net.Listen("tcp", m.cfg.Listen); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	m.closers = append(m.closers, func() error { _ = m.rawLn.Close(); return nil })
	m.ln = m.rawLn
	if tlsConf != nil {
		m.ln = tls.NewListener(m.rawLn, tlsConf)
	}
	if err := m.startAdmin(inherited["admin"]); err != nil {
		return err
	}
	if err := m.startLockService(inherited["locks"]); err != nil {
		return err
	}
	m.accepting.Store(true)
	go m.serve()
	m.log.Info().Str("listen", m.ln.Addr().String()).Str("store", string(m.cfg.Store.Type)).
		Int("upstreams", len(m.cfg.Upstreams)).Bool("tls", tlsConf != nil).Bool("inherited", hc != nil).Msg("sidecar serving")
	if hc != nil {
		if err := hc.ready(ctx); err != nil {
			m.log.Warn().Err(err).Msg("handover: the old process did not confirm; both may accept until it exits")
		} else {
			m.log.Info().Msg("handover: took over the listening socket; the old process is draining")
		}
	}
	return m.offerHandover()
}

// inherit takes the listening sockets over from a running Sidecar when
// server.handover_socket is set and one answers there.
func (m *Main) inherit(ctx context.Context) (map[string]net.Listener, *handoverClient, error) {
	if !m.cfg.Server.HandoverEnabled() {
		return nil, nil, nil
	}
	lns, hc, err := takeOver(ctx, m.cfg.Server.HandoverSocket)
	if err != nil {
		return nil, nil, fmt.Errorf("server.handover_socket: taking over: %w", err)
	}
	return lns, hc, nil
}

// offerHandover serves the handover socket so that the next Sidecar can
// take this one's listeners over.
func (m *Main) offerHandover() error {
	if !m.cfg.Server.HandoverEnabled() {
		return nil
	}
	lns := map[string]net.Listener{"http": m.rawLn}
	if m.rawAdminLn != nil {
		lns["admin"] = m.rawAdminLn
	}
	if m.locksLn != nil {
		lns["locks"] = m.locksLn
	}
	stop, err := serveHandover(m.cfg.Server.HandoverSocket, lns, m.stopAccepting,
		func() { close(m.handedOver) }, m.log.With().Str("log", "handover").Logger())
	if err != nil {
		return fmt.Errorf("server.handover_socket: %w", err)
	}
	m.stopHandover = stop
	return nil
}

// keepAliveGrace is how long busy kept-alive client connections get to
// send one more request (answered with Connection: close) before the idle
// ones are closed. Closing an idle connection races with a client starting
// a request on it, which a client may not retry (a POST); with the grace,
// a client under load has already been told to close.
const keepAliveGrace = time.Second

// closeIdleAfterGrace waits until every connection has closed, or the
// grace (bounded by ctx) passes, then closes the idle rest.
func (m *Main) closeIdleAfterGrace(ctx context.Context) {
	grace, cancel := context.WithTimeout(ctx, keepAliveGrace)
	defer cancel()
	if m.conns.wait(grace) == nil {
		return
	}
	m.srv.SetKeepAlivesEnabled(false) // closes idle connections now
}

// HandedOver is closed when a new Sidecar has taken this one's listeners:
// the caller should then Shutdown (which drains) and exit.
func (m *Main) HandedOver() <-chan struct{} { return m.handedOver }

// stopAccepting closes this process's copies of the listeners (in a
// hand-over the kernel sockets stay open in the new process) and starts
// answering with Connection: close, so each kept-alive connection closes
// after its next answer. Once it returns the serve loop has exited and
// every accepted connection is tracked for the drain.
func (m *Main) stopAccepting() {
	m.stopOnce.Do(func() {
		if m.srv == nil || !m.accepting.Load() {
			return
		}
		m.accepting.Store(false)
		m.draining.Store(true)
		_ = m.ln.Close()
		if m.adminLn != nil {
			_ = m.adminLn.Close()
		}
		if m.locksLn != nil {
			_ = m.locksLn.Close()
		}
		<-m.served
	})
}

// serve runs the HTTP server until Shutdown; it exits when the listener
// is closed.
func (m *Main) serve() {
	defer close(m.served)
	err := m.srv.Serve(m.ln)
	if errors.Is(err, net.ErrClosed) && !m.accepting.Load() {
		return // stopAccepting closed the listener
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		m.serveErr = err
		m.log.Error().Err(err).Msg("serve loop stopped")
	}
}

// startAdmin serves the admin API on admin.listen when it is enabled.
func (m *Main) startAdmin(inherited net.Listener) error {
	if !m.cfg.Admin.Enabled() {
		return nil
	}
	h, err := admin.New(admin.Options{
		Token:  m.cfg.Admin.Token.Bytes(),
		Pool:   m.pool,
		Logger: m.log.With().Str("log", "admin").Logger(),
	})
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if m.locker != nil {
		h.Handle("GET /locks/stats", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(lockservice.StatsOf(m.locker))
		}))
	}
	srv, ln, err := m.serveSide("admin", "admin.listen", m.cfg.Admin.Listen, h, inherited)
	if err != nil {
		return err
	}
	m.admin, m.adminLn, m.rawAdminLn = srv, ln, ln
	return nil
}

// serveSide serves h on a side listener (admin API, lock service): the one
// inherited in a hand-over, or a new one on addr. Its goroutine exits when
// Shutdown closes the server, or stopAccepting its listener.
func (m *Main) serveSide(name, key, addr string, h http.Handler, inherited net.Listener) (*http.Server, net.Listener, error) {
	ln := inherited
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", addr); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: m.cfg.Server.ReadHeaderTimeout}
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, net.ErrClosed) && !m.accepting.Load() {
			return // stopAccepting closed it
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error().Err(err).Str("server", name).Msg("side server stopped")
		}
	}()
	m.log.Info().Str(name, ln.Addr().String()).Msgf("%s serving", name)
	return srv, ln, nil
}

// AdminAddr is the admin API's address, or "" when it is disabled.
func (m *Main) AdminAddr() string {
	if m.adminLn == nil {
		return ""
	}
	return m.adminLn.Addr().String()
}

// Addr is the address the proxy listens on (useful with ":0").
func (m *Main) Addr() string { return m.ln.Addr().String() }

// Store is the session store in use.
func (m *Main) Store() sessions.Store { return m.store }

// track counts requests in flight. http.Server.Shutdown does not wait for
// upgraded (hijacked) connections such as WebSockets; this count does.
func (m *Main) track(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.handlers.Add(1)
		defer m.handlers.Done()
		if m.draining.Load() {
			// Close each kept-alive connection after its next answer
			// rather than under a client that may be writing on it.
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// Shutdown stops accepting connections, lets in-flight requests (and
// upgraded connections) finish until ctx is done or
// cfg.Server.ShutdownTimeout passes, whichever is first, then cuts what
// remains, and closes the store.
func (m *Main) Shutdown(ctx context.Context) error {
	var err error
	if m.srv != nil {
		ctx, cancel := context.WithTimeout(ctx, m.cfg.Server.ShutdownTimeout)
		defer cancel()
		start := time.Now()
		if m.admin != nil {
			defer func() { _ = m.admin.Close() }()
		}
		if m.locksSrv != nil {
			defer func() { _ = m.locksSrv.Close() }()
		}
		if m.stopHandover != nil {
			_ = m.stopHandover()
		}
		// Stop accepting first and answer every connection already
		// accepted: http.Server.Shutdown alone drops a connection whose
		// first request it reads after shutdown began.
		m.stopAccepting()
		m.closeIdleAfterGrace(ctx)
		if werr := m.conns.wait(ctx); werr != nil {
			m.log.Warn().Err(werr).Msg("shutdown timeout: connections still open")
		}
		if err = m.srv.Shutdown(ctx); err != nil {
			m.log.Warn().Err(err).Msg("shutdown timeout: closing remaining connections")
			err = errors.Join(err, m.srv.Close())
		}
		handlersDone := make(chan struct{})
		go func() { m.handlers.Wait(); close(handlersDone) }() // exits when the last handler returns
		select {
		case <-handlersDone:
		case <-ctx.Done():
			m.log.Warn().Msg("shutdown timeout: cutting upgraded connections")
			m.cutoff() // ends request contexts; the ReverseProxy closes tunnels
			<-handlersDone
		}
		m.cutoff()
		m.log.Info().Dur("drained_in", time.Since(start)).Msg("sidecar stopped")
	}
	return errors.Join(err, m.serveErr, m.closeAll())
}

func (m *Main) closeAll() error {
	var err error
	m.closeOnce.Do(func() {
		for i := len(m.closers) - 1; i >= 0; i-- {
			err = errors.Join(err, m.closers[i]())
		}
	})
	return err
}

func (m *Main) buildProxy() (*proxy.Proxy, error) {
	c := m.cfg
	signer, err := sessions.NewSigner(c.Session.SecretBytes())
	if err != nil {
		return nil, err
	}
	manager, err := sessions.NewManager(sessions.Options{
		Store:           m.store,
		Signer:          signer,
		IdleTimeout:     c.Session.IdleTimeout,
		AbsoluteTimeout: c.Session.AbsoluteTimeout,
		TouchInterval:   c.Session.TouchInterval,
		MaxBytes:        c.Session.MaxBytes,
		StoreTimeout:    c.Store.Timeout,
	})
	if err != nil {
		return nil, err
	}
	header, err := sessions.NewHeaderSigner(sessions.HeaderOptions{
		Secret:   c.Headers.Secret.Bytes(),
		Issuer:   c.Headers.Issuer,
		Audience: c.Headers.Audience,
		TTL:      c.Headers.TTL,
	})
	if err != nil {
		return nil, err
	}
	transport := proxy.NewTransport(proxy.TransportOptions{
		DialTimeout:           c.Proxy.DialTimeout,
		ResponseHeaderTimeout: c.Proxy.ResponseHeaderTimeout,
		IdleConnTimeout:       c.Proxy.IdleConnTimeout,
		MaxIdleConnsPerHost:   c.Proxy.MaxIdleConnsPerHost,
	})
	m.closers = append(m.closers, func() error { transport.CloseIdleConnections(); return nil })
	popts, err := poolOptions(c)
	if err != nil {
		return nil, err
	}
	pool, err := proxy.NewPool(popts, transport, m.log.With().Str("log", "pool").Logger())
	if err != nil {
		return nil, err
	}
	m.pool = pool
	m.closers = append(m.closers, pool.Close)
	return proxy.New(proxy.Options{
		Pool:    pool,
		Manager: manager,
		Locking: m.sessionLocking(),
		Header:  header,
		Prefix:  c.Headers.Prefix,
		Cookie: proxy.CookieOptions{
			Name:         c.Session.CookieName,
			Path:         c.Session.CookiePath,
			Domain:       c.Session.CookieDomain,
			SameSite:     c.Session.CookieSameSite.HTTP(),
			AlwaysSecure: c.Session.CookieSecure == config.CookieSecureAlways,
			Persistent:   c.Session.CookiePersistent,
			KeepUpstream: !c.Session.StripCookie,
		},
		Transport:  transport,
		RetryAfter: c.Store.RetryAfter,
		Logger:     m.log.With().Str("log", "access").Logger(),
	})
}

// serverErrorLog sends net/http's own error lines (TLS handshake errors,
// panics in handlers) to the structured log.
type serverErrorLog struct{ log zerolog.Logger }

func (w serverErrorLog) Write(p []byte) (int, error) {
	msg := string(p)
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg = msg[:n-1]
	}
	w.log.Warn().Str("log", "http").Msg(msg)
	return len(p), nil
}
