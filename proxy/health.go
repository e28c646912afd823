package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"
)

// startHealth runs b's active check loop until hstop, b.stop or the pool
// closes. The first check runs at once, so a dead upstream configured at
// startup is found within one timeout.
func (p *Pool) startHealth(b *Backend, h HealthCheck, hstop chan struct{}) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(h.Interval)
		defer t.Stop()
		for {
			p.recordCheck(b, h, p.check(b, h))
			select {
			case <-t.C:
			case <-hstop:
				return
			case <-b.stop:
				return
			case <-p.ctx.Done():
				return
			}
		}
	}()
}

// recordCheck applies one active-check result with the thresholds.
func (p *Pool) recordCheck(b *Backend, h HealthCheck, ok bool) {
	if ok {
		if b.ejectedUntil.Load() != 0 {
			p.readmit(b, "active health check")
		}
		b.misses.Store(0)
		if n := b.passes.Add(1); !b.healthy.Load() && int(n) >= h.HealthyThreshold {
			b.healthy.Store(true)
			p.log.Info().Str("upstream", b.Name).Msg("upstream healthy again")
		}
		return
	}
	b.passes.Store(0)
	if n := b.misses.Add(1); b.healthy.Load() && int(n) >= h.UnhealthyThreshold {
		b.healthy.Store(false)
		p.log.Warn().Str("upstream", b.Name).Int("failed_checks", int(n)).Msg("upstream unhealthy: no requests until it passes again")
	}
}

// check runs one probe of b: GET of the health path when there is one,
// else a TCP connect.
func (p *Pool) check(b *Backend, h HealthCheck) bool {
	ctx, cancel := context.WithTimeout(p.ctx, h.Timeout)
	defer cancel()
	if h.Path == "" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", hostPort(b.URL.Scheme, b.URL.Host))
		if err != nil {
			return false
		}
		_ = c.Close()
		return true
	}
	u := *b.URL
	u.Path = joinPath(u.Path, h.Path)
	u.RawQuery = ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "sidecar-health-check")
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	if h.ExpectStatus != 0 {
		return resp.StatusCode == h.ExpectStatus
	}
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}

func hostPort(scheme, host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	if scheme == "https" {
		return net.JoinHostPort(host, "443")
	}
	return net.JoinHostPort(host, "80")
}
