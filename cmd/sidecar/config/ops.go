package config

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"unicode"
)

// OpsConfig configures the operations listener (ops): /healthz, /readyz
// and /metrics, without a token. Every key takes a restart.
type OpsConfig struct {
	// Listen is its host:port. Default "": off, so that several instances
	// can share a host. It may be a non-loopback address, for Kubernetes
	// probes and Prometheus: it answers without a token and changes
	// nothing, but says how Sidecar fares, so keep it on a private
	// network. It must differ from listen, admin.listen,
	// lock_service.listen and tls.http_listen.
	Listen string `koanf:"listen"`
	// ReadinessIncludesStore makes /readyz answer 503 while the session
	// store is down, after it first answered. Default false: /readyz is
	// 503 only until the store first answers (and while no upstream is
	// available); a later outage shows in its body and in metrics, since
	// a store shared by a fleet that goes down would otherwise empty every
	// load balancer's pool at once.
	ReadinessIncludesStore bool `koanf:"readiness_includes_store"`
	// NeededBy names what outside Sidecar probes this listener, one
	// phrase each, e.g. "the container image's HEALTHCHECK": while Listen
	// is off, `sidecar check` and `sidecar serve` warn that it needs it
	// ([Config.OpsWarning]). Sidecar's container image sets it through
	// SIDECAR_OPS__NEEDED_BY, so that a config mounted over the image's
	// own without ops.listen is reported. At most 8 phrases of at most
	// 120 printable bytes. Default none.
	NeededBy []string `koanf:"needed_by"`
	// Pprof serves Go's runtime profiles (net/http/pprof) on this
	// listener under /debug/pprof/, for `go tool pprof` and for
	// bench/pgo.sh, which builds the profile-guided build's default.pgo
	// from them. Default false. The listener has no token, and profiles
	// show code paths and what requests are doing while a CPU profile or
	// trace costs CPU: keep Listen on loopback while it is on
	// ([Config.PprofWarning]).
	Pprof bool `koanf:"pprof"`
}

// The bounds of ops.needed_by.
const (
	maxOpsNeeds      = 8
	maxOpsNeedLength = 120
)

// Enabled reports whether the operations listener is on (Listen is set).
func (o OpsConfig) Enabled() bool { return o.Listen != "" }

// validateOps checks ops, while it is on.
func (c Config) validateOps(p *problems) {
	o := c.Ops
	if len(o.NeededBy) > maxOpsNeeds {
		p.add("ops.needed_by", "at most %d entries (got %d)", maxOpsNeeds, len(o.NeededBy))
	}
	for i, need := range o.NeededBy {
		if need == "" || len(need) > maxOpsNeedLength || strings.IndexFunc(need, notPrintable) >= 0 {
			p.add(fmt.Sprintf("ops.needed_by[%d]", i), "must be 1 to %d printable bytes", maxOpsNeedLength)
		}
	}
	if !o.Enabled() {
		return
	}
	if err := checkHostPort(o.Listen); err != nil {
		p.add("ops.listen", "%v", err)
		return
	}
	others := []struct{ key, addr string }{
		{"listen", c.Listen},
		{"admin.listen", c.Admin.Listen},
		{"lock_service.listen", c.LockService.Listen},
		{"tls.http_listen", c.TLS.HTTPListen},
	}
	for _, other := range others {
		if other.addr != "" && sameListener(o.Listen, other.addr) {
			p.add("ops.listen", "must differ from %s (%q)", other.key, other.addr)
		}
	}
}

// notPrintable reports a rune a warning should not carry.
func notPrintable(r rune) bool { return !unicode.IsPrint(r) }

// opsNeeds names what in the configuration needs ops.listen, one phrase
// each: ops.needed_by, what the operator (or the container image) says
// probes it. EdDSA header keys, when they come, will publish their public
// keys there and belong here too.
func (c Config) opsNeeds() []string { return slices.Clone(c.Ops.NeededBy) }

// OpsWarning returns the warning for ops.listen being off while something
// needs it, or "": needs are what the caller found outside the
// configuration (a container image's HEALTHCHECK, which probes /healthz),
// to which the configuration adds its own. [Config.Warnings] includes it
// for the configuration's own needs.
func (c Config) OpsWarning(needs ...string) string {
	needs = append(c.opsNeeds(), needs...)
	if c.Ops.Enabled() || len(needs) == 0 {
		return ""
	}
	return fmt.Sprintf("ops.listen is off, yet %s needs /healthz, /readyz or /metrics there: set ops.listen", strings.Join(needs, " and "))
}

// PprofWarning returns the warning for ops.pprof on while ops.listen is
// not a loopback address, or on while ops.listen is off, or "".
func (c Config) PprofWarning() string {
	o := c.Ops
	switch {
	case !o.Pprof:
		return ""
	case !o.Enabled():
		return "ops.pprof is on but ops.listen is off: the profiles are served nowhere"
	}
	host, _, err := net.SplitHostPort(o.Listen)
	if err != nil || isLoopback(host) {
		return ""
	}
	return fmt.Sprintf("ops.pprof serves Go's runtime profiles without a token on ops.listen (%q), which is not a loopback address: "+
		"anyone who reaches it can read goroutine dumps and make Sidecar spend CPU on profiles; keep it on 127.0.0.1 while ops.pprof is on", o.Listen)
}
