package app

import (
	"fmt"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

// Reload applies next, a freshly loaded and validated config, to the
// running program: upstreams and weights, the selection policy, health
// checks, passive ejection, affinity, retries, the session and header
// secrets, the error pages (read again from proxy.error_pages.dir) and the
// log level change at once without dropping a connection: requests in
// flight finish with the settings (and the secrets) they started with.
// Changes to anything else are logged as needing a restart and not
// applied.
//
// The caller loads next (config.Load, which reads the *_file secrets
// again) and refuses the reload, keeping the running config, when that
// fails. Reload returns an error, having applied nothing, when the merged
// config does not validate (config.Config.Reload), the signers cannot be
// built or an error page cannot be read.
func (m *Main) Reload(next *config.Config) error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	merged, live, deferred, err := m.cfg.Reload(*next)
	if err != nil {
		return err
	}
	keys, err := proxyKeys(&merged)
	if err != nil {
		return err
	}
	pages, err := errorPages(&merged)
	if err != nil {
		return err
	}
	popts, err := merged.PoolOptions()
	if err != nil {
		return err
	}
	if err := m.pool.Update(popts); err != nil {
		return fmt.Errorf("applying upstreams: %w", err)
	}
	if err := m.proxy.SetKeys(keys); err != nil {
		return err
	}
	m.proxy.SetErrorPages(pages)
	lvl, err := logLevel(merged.Log.Level)
	if err != nil {
		return err
	}
	m.level.SetLevel(lvl)
	// merged keeps the running values of what was not applied, so the
	// next diff still reports them.
	m.cfg = &merged
	ev := m.log.Info().Strs("applied", live)
	if len(deferred) > 0 {
		ev = ev.Strs("needs_restart", deferred)
	}
	if merged.Proxy.ErrorPages.Dir != "" {
		ev = ev.Strs("error_pages", pages.Custom())
	}
	ev.Int("upstreams", len(next.Upstreams)).Msg("config reloaded")
	return nil
}
