package app

import (
	"fmt"
	"net"

	"github.com/sidecarproxy/sidecar/admin"
	"github.com/sidecarproxy/sidecar/server"
)

// adminSide is the admin API's side server (off unless admin.listen is
// set): the upstream pool, the sessions, and lock counters when a locker
// runs.
func (m *Main) adminSide() (server.Side, error) {
	c := m.cfg.Admin
	if !c.Enabled() {
		return server.Side{}, nil
	}
	h, err := admin.New(admin.Options{
		Token:      c.Token.Bytes(),
		Pool:       m.pool,
		Locker:     m.locker,
		AuthLimits: m.cfg.AuthFailures.Limits(),
		// The sessions, to list, revoke and count.
		Sessions: m.manager,
		OnRevoke: func(n int) { m.Metrics().Revoked(n) }, // no-op without ops.listen
		// The status page's Host names: admin.listen's and admin.hosts.
		Hosts:  append([]string{listenHost(c.Listen)}, c.Hosts...),
		Logger: m.log.With().Str("log", "admin").Logger(),
	})
	if err != nil {
		return server.Side{}, fmt.Errorf("admin: %w", err)
	}
	return server.Side{Listen: c.Listen, Handler: h}, nil
}

// listenHost is the host of a host:port listen address ("" if none).
func listenHost(addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	return host
}
