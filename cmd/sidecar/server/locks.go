package server

import (
	"fmt"
	"net"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/proxy/lockservice"
)

// openLocker builds the Locker that session locking and the app lock
// service share, when either is on: Redlock over locks.redlock_addrs, else
// the store's Redis, else in-process (bolt and memory run one Sidecar).
func (m *Main) openLocker(storeRedis goredis.UniversalClient) error {
	c := m.cfg
	if c.Session.Locking != config.LockingSession && !c.LockService.Enabled() {
		return nil
	}
	opts := lock.Options{Prefix: c.Locks.Prefix}
	switch c.LockScope() {
	case config.LockScopeRedlock:
		clients := make([]lock.Client, len(c.Locks.RedlockAddrs))
		for i, addr := range c.Locks.RedlockAddrs {
			rc := goredis.NewClient(&goredis.Options{
				Addr:                  addr,
				Password:              string(c.Locks.RedlockPassword),
				ContextTimeoutEnabled: true,
			})
			m.closers = append(m.closers, rc.Close)
			clients[i] = rc
		}
		l, err := lock.NewRedlock(clients, opts)
		if err != nil {
			return fmt.Errorf("locks.redlock_addrs: %w", err)
		}
		m.locker = l
	case config.LockScopeRedis:
		m.locker = lock.NewRedis(storeRedis, opts)
	default:
		m.locker = lock.NewLocal(opts)
	}
	m.closers = append(m.closers, m.locker.Close)
	m.log.Info().Str("scope", c.LockScope()).Bool("session_locking", c.Session.Locking == config.LockingSession).
		Bool("lock_service", c.LockService.Enabled()).Msg("locks ready")
	return nil
}

// sessionLocking is the proxy's session-locking setup (off unless
// session.locking is "session").
func (m *Main) sessionLocking() proxy.Locking {
	c := m.cfg.Session
	if c.Locking != config.LockingSession {
		return proxy.Locking{}
	}
	return proxy.Locking{
		Locker:    m.locker,
		Wait:      c.Lock.Wait,
		TTL:       c.Lock.TTL,
		OnTimeout: proxy.OnLockTimeout(c.Lock.OnTimeout),
		SkipPaths: c.Lock.SkipPaths,
	}
}

// startLockService serves the app lock service on lock_service.listen
// when it is enabled (inherited is its listener from a hand-over).
func (m *Main) startLockService(inherited net.Listener) error {
	c := m.cfg.LockService
	if !c.Enabled() {
		return nil
	}
	h, err := lockservice.New(lockservice.Options{
		Locker:  m.locker,
		Token:   c.Token.Bytes(),
		MaxTTL:  c.MaxTTL,
		MaxWait: c.MaxWait,
		Logger:  m.log.With().Str("log", "lock_service").Logger(),
	})
	if err != nil {
		return fmt.Errorf("lock_service: %w", err)
	}
	srv, ln, err := m.serveSide("lock_service", "lock_service.listen", c.Listen, h, inherited)
	if err != nil {
		return err
	}
	m.locksSrv, m.locksLn = srv, ln
	return nil
}

// LockServiceAddr is the lock service's address, or "" when it is off.
func (m *Main) LockServiceAddr() string {
	if m.locksLn == nil {
		return ""
	}
	return m.locksLn.Addr().String()
}
