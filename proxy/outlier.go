package proxy

import (
	"fmt"
	"time"
)

// Outlier detection: passive ejection with its cap and backoff, probing
// back, readmission, and panic mode. Passive documents the rules.

// passiveOK records a request that reached b and got response headers: it
// ends b's failure streak and its ejection backoff.
func (p *Pool) passiveOK(b *Backend) {
	if b.fails.Load() != 0 {
		b.fails.Store(0)
	}
	if b.ejections.Load() != 0 {
		b.ejections.Store(0)
	}
	if b.capped.Load() {
		b.capped.Store(false)
	}
}

// passiveFail records a connection failure or timeout on b, an upstream
// fault (never a client's). After MaxFails in a row it ejects b, unless
// the cap refuses, and starts its probe-back loop.
func (p *Pool) passiveFail(b *Backend) {
	b.failures.Add(1)
	st := p.state.Load()
	pa := st.opts.Passive
	if pa.MaxFails <= 0 {
		return
	}
	n := int(b.fails.Add(1))
	if n < pa.MaxFails {
		return
	}
	p.ejectMu.Lock()
	defer p.ejectMu.Unlock()
	now := p.now()
	if b.ejectedUntil.Load() != 0 {
		return // already out; panic mode sent it this request
	}
	if reason := ejectionRefused(st, b); reason != "" {
		if !b.capped.Swap(true) {
			p.log.Warn().Str("upstream", b.Name).Int("consecutive_failures", n).Str("reason", reason).
				Msg("upstream not ejected despite failures: " + reason)
		}
		return
	}
	b.capped.Store(false)
	d := p.eject(b, pa, now)
	p.log.Warn().Str("upstream", b.Name).Int("consecutive_failures", n).Dur("ejection", d).
		Msg("upstream ejected after failures")
	if !b.probing.Swap(true) {
		p.wg.Add(1)
		go p.probeBack(b)
	}
}

// ejectionRefused returns why b may not be ejected, or "": it would
// be the last available upstream, or take the ejected share of the
// non-draining upstreams over MaxEjectionPercent.
func ejectionRefused(st *poolState, b *Backend) string {
	maxPct := st.opts.Passive.MaxEjectionPercent
	if maxPct < 0 {
		return "passive ejection is capped at 0%"
	}
	var live, ejected, others int
	for _, o := range st.backends {
		if o.draining.Load() {
			continue
		}
		live++
		switch {
		case o.ejectedUntil.Load() != 0:
			ejected++
		case o != b && o.healthy.Load():
			others++
		}
	}
	if others == 0 {
		return "it is the last available upstream"
	}
	if (ejected+1)*100 > maxPct*live {
		return fmt.Sprintf("%d of %d non-draining upstreams already ejected, the cap is %d%%", ejected, live, maxPct)
	}
	return ""
}

// eject takes b out until a probe or an active check readmits it, and
// schedules its probe after BaseEjection doubled for each consecutive
// ejection before this one, at most Cooldown; it returns that time.
// p.ejectMu must be held.
func (p *Pool) eject(b *Backend, pa Passive, now time.Time) time.Duration {
	d := pa.BaseEjection
	for k := b.ejections.Add(1) - 1; k > 0 && d < pa.Cooldown; k-- {
		d *= 2
	}
	d = min(d, pa.Cooldown)
	b.ejected.Add(1)
	b.ejectedUntil.Store(now.Add(d).UnixNano())
	return d
}

// readmit ends b's ejection, saying by what (its probe, or an active
// health check), and logs it when b was ejected.
func (p *Pool) readmit(b *Backend, by string) {
	p.ejectMu.Lock()
	defer p.ejectMu.Unlock()
	if b.ejectedUntil.Swap(0) == 0 {
		return
	}
	b.fails.Store(0)
	b.capped.Store(false)
	p.log.Info().Str("upstream", b.Name).Str("by", by).Msg("ejected upstream readmitted by its " + by)
}

// probeBack waits out each ejection, then probes b: a pass readmits it, a
// failure ejects it again for the next, doubled, time. It exits once b is
// readmitted (by its probe or an active check), when b leaves the pool, or
// when the pool closes.
func (p *Pool) probeBack(b *Backend) {
	defer p.wg.Done()
	for {
		p.ejectMu.Lock()                // so that an ejection after this sees probing false and starts a loop
		if b.ejectedUntil.Load() == 0 { // readmitted
			b.probing.Store(false)
			p.ejectMu.Unlock()
			return
		}
		p.ejectMu.Unlock()
		if wait := time.Duration(b.ejectedUntil.Load() - p.now().UnixNano()); wait > 0 {
			c, stop := p.after(wait)
			select {
			case <-c:
			case <-b.stop:
				stop()
				b.probing.Store(false)
				return
			case <-p.ctx.Done():
				stop()
				b.probing.Store(false)
				return
			}
		}
		st := p.state.Load()
		if p.check(b, st.opts.Health) {
			p.readmit(b, "probe")
			continue // exits above, unless it was ejected again meanwhile
		}
		p.ejectMu.Lock()
		if b.ejectedUntil.Load() == 0 {
			p.ejectMu.Unlock()
			continue
		}
		d := p.eject(b, st.opts.Passive, p.now())
		p.ejectMu.Unlock()
		p.log.Warn().Str("upstream", b.Name).Dur("ejection", d).Msg("ejected upstream failed its probe: ejected again")
	}
}

// panicMode reports whether fewer than PanicThreshold percent of the
// non-draining upstreams are available, and logs when that
// changes.
func (p *Pool) panicMode(st *poolState) bool {
	if st.opts.PanicThreshold < 0 {
		return p.setPanic(false, 0, 0, st.opts.PanicThreshold)
	}
	var live, avail int
	for _, b := range st.backends {
		if b.draining.Load() {
			continue
		}
		live++
		if b.available() {
			avail++
		}
	}
	return p.setPanic(live > 0 && avail*100 < st.opts.PanicThreshold*live, avail, live, st.opts.PanicThreshold)
}

// Panicking reports whether the pool is in panic mode now (see
// PoolOptions.PanicThreshold).
func (p *Pool) Panicking() bool { return p.panicMode(p.state.Load()) }

func (p *Pool) setPanic(on bool, avail, live, threshold int) bool {
	was := p.panicking.Load()
	if was == on || !p.panicking.CompareAndSwap(was, on) {
		return on
	}
	if on {
		p.log.Warn().Int("available", avail).Int("non_draining", live).Int("panic_threshold", threshold).
			Msgf("panic mode: %d of %d non-draining upstreams available, under %d%%: routing to all of them, ignoring health and ejection", avail, live, threshold)
	} else {
		p.log.Info().Int("available", avail).Int("non_draining", live).Int("panic_threshold", threshold).
			Msgf("panic mode over: %d of %d non-draining upstreams available", avail, live)
	}
	return on
}
