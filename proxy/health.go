package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
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

// ProbeResult is the outcome of one Pool.Probe, as the admin API serves it.
type ProbeResult struct {
	// Name is the upstream probed.
	Name string `json:"name"`
	// Check is what was probed: without a health check path "tcp
	// connect", or "tls handshake" for an https:// upstream; else "GET "
	// and the path.
	Check string `json:"check"`
	// OK reports whether the probe passed.
	OK bool `json:"ok"`
	// Error says why the probe failed; empty when OK.
	Error string `json:"error,omitempty"`
	// State is the upstream's state once the probe ended.
	State State `json:"state"`
}

// Probe runs one probe of the named upstream now, whether or not active
// health checks are on: a GET of HealthCheck.Path when one is configured
// (passing on ExpectStatus, or any 2xx or 3xx), else a TCP connect, and
// for an https:// upstream a TLS handshake with the transport's TLS
// configuration (a wrong CA or server name fails it). It
// lasts at most HealthCheck.Timeout (DefaultHealthTimeout, 2s, by
// default), less if ctx ends or the pool closes first.
//
// Probe only reports: its result changes no health verdict, ejection or
// counter, so that it can be called as often as a deploy script likes
// without second-guessing the configured thresholds. A failed probe is a
// ProbeResult with OK false, not an error; the error is for an upstream
// the pool does not have (wrapping ErrUnknownUpstream).
func (p *Pool) Probe(ctx context.Context, name string) (ProbeResult, error) {
	st := p.state.Load()
	b := st.byName[name]
	if b == nil {
		return ProbeResult{}, fmt.Errorf("%w: %q", ErrUnknownUpstream, name)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.ctx, cancel) // the pool closing ends it too
	defer stop()
	h := st.opts.Health
	r := ProbeResult{Name: name, Check: "tcp connect"}
	switch {
	case h.Path != "":
		r.Check = "GET " + h.Path
	case b.URL.Scheme == "https":
		r.Check = "tls handshake"
	}
	err := p.probe(ctx, b, h)
	r.OK = err == nil
	if err != nil {
		r.Error = err.Error()
	}
	r.State = b.state(p.now())
	return r, nil
}

// check runs one probe of b for the health loop or an ejection's probe.
func (p *Pool) check(b *Backend, h HealthCheck) bool {
	return p.probe(p.ctx, b, h) == nil
}

// probe runs one probe of b within h.Timeout: GET of the health path when
// there is one, else a TCP connect, followed by a TLS handshake for an
// https:// upstream. It returns why it failed, or nil.
func (p *Pool) probe(ctx context.Context, b *Backend, h HealthCheck) error {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	if h.Path == "" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", hostPort(b.URL.Scheme, b.URL.Host))
		if err != nil {
			return err
		}
		defer c.Close()
		if b.URL.Scheme == "https" {
			return tls.Client(c, p.probeTLS(b)).HandshakeContext(ctx)
		}
		return nil
	}
	u := *b.URL
	u.Path = joinPath(u.Path, h.Path)
	u.RawQuery = ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "sidecar-health-check")
	resp, err := p.transport.RoundTrip(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 400
	if h.ExpectStatus != 0 {
		ok = resp.StatusCode == h.ExpectStatus
	}
	if !ok {
		return fmt.Errorf("GET %s: status %d", h.Path, resp.StatusCode)
	}
	return nil
}

// probeTLS is the TLS configuration of a handshake probe of b: the
// transport's, as requests use it, with b's host as the server name when
// it names none.
func (p *Pool) probeTLS(b *Backend) *tls.Config {
	c := &tls.Config{}
	if t, ok := p.transport.(*http.Transport); ok && t.TLSClientConfig != nil {
		c = t.TLSClientConfig.Clone()
	}
	if c.ServerName == "" {
		c.ServerName = b.URL.Hostname()
	}
	return c
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
