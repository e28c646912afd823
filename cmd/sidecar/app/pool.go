package app

import (
	"fmt"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/proxy"
)

// poolOptions translates the upstream part of the config for the proxy
// (upstreams, policy, health checks, ejection, affinity, retries):
// what NewPool takes at start and Pool.Update takes on SIGHUP.
func poolOptions(c *config.Config) (proxy.PoolOptions, error) {
	ups := make([]proxy.Upstream, len(c.Upstreams))
	for i, u := range c.Upstreams {
		pu, err := u.ParseURL()
		if err != nil {
			return proxy.PoolOptions{}, fmt.Errorf("upstreams[%d].url: %w", i, err)
		}
		ups[i] = proxy.Upstream{Name: u.Name, URL: pu, Weight: u.Weight}
	}
	p := c.Proxy
	buffer := int64(p.Retry.BufferBytes)
	if buffer == 0 {
		buffer = -1 // the config's 0 buffers nothing; the library's 0 means its default
	}
	// The config's 0 turns these off; the library's 0 means its default.
	maxEjection, panicThreshold := p.Passive.MaxEjectionPercent, p.PanicThreshold
	if maxEjection == 0 {
		maxEjection = -1
	}
	if panicThreshold == 0 {
		panicThreshold = -1
	}
	o := proxy.PoolOptions{
		Upstreams:      ups,
		Policy:         p.Policy,
		PanicThreshold: panicThreshold,
		Passive: proxy.Passive{
			MaxFails:           p.Passive.MaxFails,
			Cooldown:           p.Passive.Cooldown,
			BaseEjection:       p.Passive.BaseEjection,
			MaxEjectionPercent: maxEjection,
		},
		Retry: proxy.RetryOptions{
			Attempts:    p.Retry.Attempts,
			Timeout:     p.Retry.Timeout,
			BufferBytes: buffer,
		},
	}
	if p.HealthCheck.Enabled() {
		o.Health = proxy.HealthCheck{
			Path:               p.HealthCheck.Path,
			Interval:           p.HealthCheck.Interval,
			Timeout:            p.HealthCheck.Timeout,
			HealthyThreshold:   p.HealthCheck.HealthyThreshold,
			UnhealthyThreshold: p.HealthCheck.UnhealthyThreshold,
			ExpectStatus:       p.HealthCheck.ExpectStatus,
		}
	}
	if p.Affinity.Enabled() {
		o.Affinity = proxy.Affinity{
			Cookie: p.Affinity.Cookie,
			Mode:   p.Affinity.Mode,
			Routes: p.Affinity.Routes,
		}
	}
	return o, nil
}
