// Package app wires Sidecar: it alone turns a config.Config into a store,
// a locker, a session manager, the proxy, the admin API, the lock service
// and the server.Server that listens for them. cmd/sidecar wraps it with
// flags and signals; integration tests start the whole program in-process
// on ":0" ports through it.
//
// Main.Check builds everything Run builds, short of listening and of
// connecting to Redis, so that `sidecar check` refuses what `sidecar
// serve` would refuse at start (Check's doc names the two exceptions).
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/applog"
	"github.com/sidecarproxy/sidecar/internal/gcfloor"
	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/server"
	"github.com/sidecarproxy/sidecar/server/handover"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/tlsedge"
)

// Main is one Sidecar program. Create it with New, start it with Run, stop
// it with Shutdown. It is not reusable after Shutdown.
type Main struct {
	// BeforeCommit, when set before Run, is the memory and bolt stores'
	// Options.BeforeCommit: it runs inside every write just before the
	// store checks the deadline and commits. It is a fault-injection seam
	// for tests (a commit stalled past store.timeout); leave it nil.
	BeforeCommit func(ctx context.Context)
	// AccessOut, when set before Run, receives the access log's lines
	// under log.access: combined; nil means the log's own writer. `sidecar
	// serve` sets it to standard output, its log being on standard error.
	AccessOut io.Writer

	cfg      *config.Config
	out      io.Writer // the log's writer
	log      zerolog.Logger
	level    *applog.Filter
	reloadMu sync.Mutex // one reload at a time; guards cfg after Run

	store     sessions.Store
	manager   *sessions.Manager // the admin API lists and revokes through it
	pool      *proxy.Pool
	proxy     *proxy.Proxy // its keys and error pages change on reload
	locker    *lock.Locker
	srv       *server.Server
	acme      *tlsedge.ACME  // nil without tls.acme; started once listening
	ops       opsParts       // metrics and probes (ops.go); zero without ops.listen
	closers   []func() error // run in reverse order by closeAll
	closeOnce sync.Once
}

// New returns a Main for cfg, logging JSON (or console text, per
// cfg.Log.Format) to out. It opens nothing yet.
func New(cfg *config.Config, out io.Writer) (*Main, error) {
	logger, level, err := newLogger(cfg.Log, out)
	if err != nil {
		return nil, err
	}
	m := &Main{cfg: cfg, out: level.Out(), log: logger, level: level}
	m.onClose(level.Close) // the last closer: flushes the log's Buffer
	return m, nil
}

// Logger is the program's logger.
func (m *Main) Logger() *zerolog.Logger { return &m.log }

// Run opens the store, builds the proxy and starts serving. It returns
// once every listener is open (Addr is then valid) or with the first
// error; on error everything opened so far is closed.
func (m *Main) Run(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			_ = m.closeAll()
		}
	}()
	libLogs.Install()
	m.onClose(libLogs.Attach(m.log)) // go-redis and the log package log here (logger.go)
	stopGC := gcfloor.Start(uint64(m.cfg.Runtime.GCMinHeapBytes))
	m.onClose(func() error { stopGC(); return nil })
	if m.cfg.UsesExampleSecrets() {
		m.log.Warn().Msg("running with the example secrets from config.example.yaml: anyone can forge cookies and session headers; set your own before exposing this instance")
	}
	for _, w := range m.cfg.Warnings() {
		m.log.Warn().Msg(w)
	}
	opts, err := m.build(ctx, false)
	if err != nil {
		return err
	}
	srv := server.New(opts)
	if err := srv.Run(ctx); err != nil {
		return err
	}
	m.srv = srv
	if m.acme != nil {
		m.acme.Start()
	}
	m.log.Info().Str("store", string(m.cfg.Store.Type)).Int("upstreams", len(m.cfg.Upstreams)).
		Msg("sidecar ready")
	return nil
}

// Check builds everything Run would, without listening, without taking
// over a running process's listeners and without connecting to Redis (a
// Redis that is down does not stop serve either), then closes it all: it
// loads TLS files, checks the bolt file's directory, builds the signers,
// the pool, the locker and the handlers, and returns what serve would
// refuse. With tls.acme it builds certmagic and reads tls.acme.ca_root but
// contacts no CA and creates no storage directory.
//
// Two things only serve finds: a bolt file that exists but is not a bolt
// database (check does not open it: a running Sidecar holds its lock), and
// an address already in use.
func (m *Main) Check(ctx context.Context) error {
	_, err := m.build(ctx, true)
	if err == nil && m.cfg.Server.HandoverSocket != "" {
		if herr := handover.CheckPath(m.cfg.Server.HandoverSocket); herr != nil {
			err = fmt.Errorf("server.handover_socket: %w", herr)
		}
	}
	return errors.Join(err, m.closeAll())
}

// build opens (or, with preflight, only checks) the store and builds the
// handlers and the server's options.
func (m *Main) build(ctx context.Context, preflight bool) (server.Options, error) {
	c := m.cfg
	store, storeRedis, err := m.openStore(ctx, c.Store, preflight)
	if err != nil {
		return server.Options{}, err
	}
	m.store = store
	m.instrumentStore()
	if err := m.openLocker(storeRedis); err != nil {
		return server.Options{}, err
	}
	handler, err := m.buildProxy()
	if err != nil {
		return server.Options{}, err
	}
	if err := checkTempDir(c.Limits.Buffer); err != nil {
		return server.Options{}, err
	}
	m.proxy = handler
	edge, err := m.buildEdge(preflight, storeRedis)
	if err != nil {
		return server.Options{}, err
	}
	m.acme = edge.acme
	opts := c.ServerOptions()
	opts.Handler, opts.TLSConfig, opts.PlainHTTP = edge.withHSTS(handler, c.TLS.HSTS), edge.tls, edge.plain
	opts.Logger = m.log
	if opts.Admin, err = m.adminSide(); err != nil {
		return server.Options{}, err
	}
	if opts.Locks, err = m.lockServiceSide(); err != nil {
		return server.Options{}, err
	}
	if opts.Ops, err = m.opsSide(preflight); err != nil {
		return server.Options{}, err
	}
	return opts, nil
}

// Wait blocks until ctx ends or a new process took the listeners over,
// calling onReload for each signal on reloads (SIGHUP) meanwhile. Without
// a successful Run it waits for ctx alone.
func (m *Main) Wait(ctx context.Context, reloads <-chan os.Signal, onReload func()) {
	if m.srv == nil {
		<-ctx.Done()
		return
	}
	m.srv.Wait(ctx, reloads, onReload)
}

// HandedOver is closed when a new Sidecar has taken this one's listeners;
// without a successful Run it is never closed.
func (m *Main) HandedOver() <-chan struct{} {
	if m.srv == nil {
		return nil
	}
	return m.srv.HandedOver()
}

// Addr is the address the proxy listens on (useful with ":0"), or ""
// without a successful Run.
func (m *Main) Addr() string { return m.server().Addr() }

// AdminAddr is the admin API's address, or "" when it is disabled.
func (m *Main) AdminAddr() string { return m.server().AdminAddr() }

// LockServiceAddr is the lock service's address, or "" when it is off.
func (m *Main) LockServiceAddr() string { return m.server().LockServiceAddr() }

// server is the running server, or one that never ran, whose addresses
// are all "".
func (m *Main) server() *server.Server {
	if m.srv == nil {
		return server.New(server.Options{})
	}
	return m.srv
}

// Store is the session store in use.
func (m *Main) Store() sessions.Store { return m.store }

// Shutdown drains the server (see server.Server.Shutdown; bounded by ctx
// and server.shutdown_timeout), then closes the pool, the locker and the
// store.
func (m *Main) Shutdown(ctx context.Context) error {
	var err error
	if m.srv != nil {
		err = m.srv.Shutdown(ctx)
	}
	return errors.Join(err, m.closeAll())
}

// onClose registers f to run, in reverse order, when Main closes.
func (m *Main) onClose(f func() error) { m.closers = append(m.closers, f) }

func (m *Main) closeAll() error {
	var err error
	m.closeOnce.Do(func() {
		for i := len(m.closers) - 1; i >= 0; i-- {
			err = errors.Join(err, m.closers[i]())
		}
	})
	return err
}

// buildProxy builds the session manager, the signers, the upstream pool
// and the proxy handler.
func (m *Main) buildProxy() (*proxy.Proxy, error) {
	c := m.cfg
	keys, err := proxyKeys(c)
	if err != nil {
		return nil, err
	}
	manager, err := sessions.NewManager(c.ManagerOptions(m.store, keys))
	if err != nil {
		return nil, err
	}
	m.manager = manager
	pages, err := errorPages(c)
	if err != nil {
		return nil, err
	}
	upstreamTLS, err := m.backendTLS("proxy.upstream_tls", c.Proxy.UpstreamTLS)
	if err != nil {
		return nil, err
	}
	transport := proxy.NewTransport(c.TransportOptions(upstreamTLS))
	m.onClose(func() error { transport.CloseIdleConnections(); return nil })
	popts, err := c.PoolOptions()
	if err != nil {
		return nil, err
	}
	pool, err := proxy.NewPool(popts, transport, m.log.With().Str("log", "pool").Logger())
	if err != nil {
		return nil, err
	}
	m.pool = pool
	m.onClose(pool.Close)
	return proxy.New(proxy.Options{
		Pool:    pool,
		Manager: manager,
		Locking: c.Session.LockingOptions(m.locker),
		Header:  keys.Header,
		Prefix:  c.Headers.Prefix,
		// Client headers with '_' are dropped unless allowed.
		AllowUnderscores: c.Headers.AllowUnderscores,
		Upgrades:         c.Proxy.UpgradeList(),
		TrustedProxies:   c.Server.TrustedProxies.Prefixes(),
		Cookie:           c.Session.CookieOptions(),
		Limits:           c.Limits.Options(),
		Transport:        transport,
		RetryAfter:       c.Store.RetryAfter,
		ErrorPages:       pages,
		Logger:           m.log.With().Str("log", "access").Logger(),
		Observer:         m.observer(),
		AccessLog:        m.accessLog(),
	})
}
