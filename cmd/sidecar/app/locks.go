package app

import (
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/redisclient"
	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/lockservice"
	"github.com/sidecarproxy/sidecar/server"
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
		tlsConf, err := m.redisTLS("locks.redlock_tls", c.Locks.RedlockUseTLS(), c.Locks.RedlockTLS)
		if err != nil {
			return err
		}
		clients := make([]lock.Client, len(c.Locks.RedlockAddrs))
		for i, addr := range c.Locks.RedlockHostPorts() {
			rc := redisclient.New(redisclient.Options{
				Addrs:    []string{addr},
				Password: string(c.Locks.RedlockPassword),
				TLS:      tlsConf,
			})
			m.onClose(rc.Close)
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
	m.onClose(m.locker.Close)
	m.log.Info().Str("scope", c.LockScope()).Bool("session_locking", c.Session.Locking == config.LockingSession).
		Bool("lock_service", c.LockService.Enabled()).Msg("locks ready")
	return nil
}

// lockServiceSide is the app lock service's side server (off unless
// lock_service.listen is set).
func (m *Main) lockServiceSide() (server.Side, error) {
	c := m.cfg.LockService
	if !c.Enabled() {
		return server.Side{}, nil
	}
	h, err := lockservice.New(lockservice.Options{
		Locker:     m.locker,
		Token:      c.Token.Bytes(),
		MaxTTL:     c.MaxTTL,
		MaxWait:    c.MaxWait,
		AuthLimits: m.cfg.AuthFailures.Limits(),
		Logger:     m.log.With().Str("log", "lock_service").Logger(),
	})
	if err != nil {
		return server.Side{}, fmt.Errorf("lock_service: %w", err)
	}
	return server.Side{Listen: c.Listen, Handler: h}, nil
}
