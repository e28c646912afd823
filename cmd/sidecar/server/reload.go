package server

import (
	"fmt"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

// Reload applies next, a freshly loaded and validated config, to the
// running program: upstreams and weights, the selection policy, health
// checks, passive ejection, affinity, retries and the log level change at
// once without dropping a connection: requests in flight finish with the
// settings they started with. Changes to anything else are logged as
// needing a restart and not applied.
//
// The caller loads next (config.Load) and refuses the reload, keeping the
// running config, when that fails.
func (m *Main) Reload(next *config.Config) error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	live, deferred := m.cfg.ReloadDiff(*next)
	popts, err := poolOptions(next)
	if err != nil {
		return err
	}
	if err := m.pool.Update(popts); err != nil {
		return fmt.Errorf("applying upstreams: %w", err)
	}
	if err := m.level.set(next.Log.Level); err != nil {
		return err
	}
	// Keep the running values of what was not applied, so the next diff
	// still reports them.
	kept := *m.cfg
	kept.Upstreams = next.Upstreams
	kept.Proxy.Policy = next.Proxy.Policy
	kept.Proxy.HealthCheck = next.Proxy.HealthCheck
	kept.Proxy.Passive = next.Proxy.Passive
	kept.Proxy.Affinity = next.Proxy.Affinity
	kept.Proxy.Retry = next.Proxy.Retry
	kept.Log.Level = next.Log.Level
	m.cfg = &kept
	ev := m.log.Info().Strs("applied", live)
	if len(deferred) > 0 {
		ev = ev.Strs("needs_restart", deferred)
	}
	ev.Int("upstreams", len(next.Upstreams)).Msg("config reloaded")
	return nil
}
