package app

import (
	"fmt"

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
		Logger:   m.log.With().Str("log", "admin").Logger(),
	})
	if err != nil {
		return server.Side{}, fmt.Errorf("admin: %w", err)
	}
	return server.Side{Listen: c.Listen, Handler: h}, nil
}
