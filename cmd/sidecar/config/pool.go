package config

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/sidecarproxy/sidecar/proxy"
)

// The sections of proxy that configure the upstream pool: health checks,
// passive ejection, retries and sticky-session affinity. Their keys can be
// changed on a running Sidecar (see [Config.Reload]).

// maxSocketPath is the longest unix socket path accepted, in bytes: the
// smaller sun_path of the usual systems (104 bytes on macOS and the BSDs,
// 108 on Linux).
const maxSocketPath = 104

// HealthCheckConfig configures active health checks (proxy.health_check):
// every upstream is sent GET Path each Interval. They are off while Path is
// empty, and then the other keys are not checked.
type HealthCheckConfig struct {
	// Path is the path, with an optional query, that a check requests,
	// e.g. "/healthz". It starts with "/". Default "": no active checks.
	Path string `koanf:"path"`
	// Interval is the time between two checks of one upstream. Default 5s.
	Interval time.Duration `koanf:"interval"`
	// Timeout bounds one check; at most Interval. Default 2s.
	Timeout time.Duration `koanf:"timeout"`
	// HealthyThreshold is the number of consecutive passes that mark an
	// unhealthy upstream healthy: at least 1. Default 2.
	HealthyThreshold int `koanf:"healthy_threshold"`
	// UnhealthyThreshold is the number of consecutive failures that mark a
	// healthy upstream unhealthy: at least 1. Default 2.
	UnhealthyThreshold int `koanf:"unhealthy_threshold"`
	// ExpectStatus is the status code of a passing check, 100 to 599; 0
	// (the default) accepts any 2xx or 3xx.
	ExpectStatus int `koanf:"expect_status"`
}

// Enabled reports whether active health checks are on (Path is set).
func (h HealthCheckConfig) Enabled() bool { return h.Path != "" }

// PassiveConfig configures passive ejection (proxy.passive): MaxFails
// consecutive connection failures or timeouts of live requests take an
// upstream out of the pool for BaseEjection, after which it is probed; a
// pass readmits it, a failure ejects it again for twice as long, up to
// Cooldown. A passing active health check readmits it at once. At most
// MaxEjectionPercent of the non-draining upstreams are out at once, and
// never the last available one. See [proxy.Passive].
type PassiveConfig struct {
	// MaxFails is the number of consecutive failures that eject an
	// upstream; 0 disables passive ejection. Default 2.
	MaxFails int `koanf:"max_fails"`
	// Cooldown is the longest an ejected upstream stays out before it is
	// probed, the cap of the backoff; checked only when MaxFails is set.
	// Default 10s.
	Cooldown time.Duration `koanf:"cooldown"`
	// BaseEjection is how long the first ejection lasts before its probe;
	// each ejection after it without a successful response between lasts
	// twice as long as the one before, up to Cooldown. Greater than 0; a
	// value over Cooldown is taken as Cooldown (so a config that sets only
	// a short cooldown keeps it). Checked only when MaxFails is set.
	// Default 1s.
	BaseEjection time.Duration `koanf:"base_ejection"`
	// MaxEjectionPercent is the largest share of the non-draining
	// upstreams that may be ejected at once, 0 to 100: a failure that
	// would eject more is counted but does not eject, and the last
	// available upstream is never ejected. 0 ejects none. Default 50.
	MaxEjectionPercent int `koanf:"max_ejection_percent"`
}

// Enabled reports whether passive ejection is on (MaxFails is set).
func (p PassiveConfig) Enabled() bool { return p.MaxFails > 0 }

// RetryConfig configures retries of a failed request on another upstream
// (proxy.retry).
type RetryConfig struct {
	// Attempts is the number of tries per request, the first included: at
	// least 1; 1 never retries. Default 3.
	Attempts int `koanf:"attempts"`
	// Timeout bounds a request across all its tries, until the response
	// headers arrive. Default 15s.
	Timeout time.Duration `koanf:"timeout"`
	// BufferBytes is how much of one request body is held in memory,
	// within limits.buffer.memory_bytes for all bodies; the rest goes to a
	// temporary file (see [BodyBufferConfig]). A body buffered whole, in
	// memory or on disk, can be sent again; a larger one is retried only
	// when none of it was sent. 0: none in memory (with
	// limits.buffer.max_file_bytes 0 too, bodies are streamed). Default
	// 1048576 (1 MiB).
	BufferBytes int `koanf:"buffer_bytes"`
}

// AffinityConfig routes the requests of legacy sticky sessions to the
// upstream that holds them, while an app migrates to Sidecar's sessions
// (proxy.affinity). It is off while Cookie is empty, and then only Mode is
// checked.
type AffinityConfig struct {
	// Cookie is the name of the legacy cookie, e.g. "JSESSIONID" or
	// "CFID"; it must differ from session.cookie_name. Default "":
	// affinity off.
	Cookie string `koanf:"cookie"`
	// Mode says how the cookie's value names its upstream: route_suffix
	// ([proxy.RouteSuffix]: the route after the value's last '.', as
	// Tomcat's jvmRoute writes it) or map ([proxy.ValueMap]: the whole
	// value). Default route_suffix.
	Mode proxy.AffinityMode `koanf:"mode"`
	// Routes maps a route to the name of an upstream. With route_suffix
	// the route is the part of the value after its last '.', and an empty
	// map means the route is the upstream's name; with map the route is
	// the whole value, and the map must not be empty. Default: empty.
	Routes map[string]string `koanf:"routes"`
}

// Enabled reports whether affinity is on (Cookie is set).
func (a AffinityConfig) Enabled() bool { return a.Cookie != "" }

// validatePool checks proxy.policy and the pool sections of proxy.
func (c Config) validatePool(p *problems) {
	x := c.Proxy
	p.check("proxy.policy", x.Policy.Validate())

	if h := x.HealthCheck; h.Enabled() {
		if err := checkRequestPath(h.Path); err != nil {
			p.add("proxy.health_check.path", "%v", err)
		}
		p.positive("proxy.health_check.interval", h.Interval)
		switch {
		case h.Timeout <= 0:
			p.add("proxy.health_check.timeout", "must be greater than 0 (got %v)", h.Timeout)
		case h.Interval > 0 && h.Timeout > h.Interval:
			p.add("proxy.health_check.timeout", "must be at most proxy.health_check.interval (%v), got %v", h.Interval, h.Timeout)
		}
		atLeastOne(p, "proxy.health_check.healthy_threshold", h.HealthyThreshold)
		atLeastOne(p, "proxy.health_check.unhealthy_threshold", h.UnhealthyThreshold)
		if h.ExpectStatus != 0 && (h.ExpectStatus < 100 || h.ExpectStatus > 599) {
			p.add("proxy.health_check.expect_status", "must be 0 (any 2xx or 3xx) or a status code from 100 to 599 (got %d)", h.ExpectStatus)
		}
	}

	switch {
	case x.Passive.MaxFails < 0:
		p.add("proxy.passive.max_fails", "must not be negative (got %d)", x.Passive.MaxFails)
	case x.Passive.Enabled():
		p.positive("proxy.passive.cooldown", x.Passive.Cooldown)
		p.positive("proxy.passive.base_ejection", x.Passive.BaseEjection)
	}
	percent(p, "proxy.passive.max_ejection_percent", x.Passive.MaxEjectionPercent)
	percent(p, "proxy.panic_threshold", x.PanicThreshold)

	atLeastOne(p, "proxy.retry.attempts", x.Retry.Attempts)
	p.positive("proxy.retry.timeout", x.Retry.Timeout)
	if x.Retry.BufferBytes < 0 {
		p.add("proxy.retry.buffer_bytes", "must not be negative (got %d)", x.Retry.BufferBytes)
	}

	c.validateAffinity(p)
}

func (c Config) validateAffinity(p *problems) {
	a := c.Proxy.Affinity
	p.check("proxy.affinity.mode", a.Mode.Validate())
	if !a.Enabled() {
		return
	}
	switch {
	case !isToken(a.Cookie):
		p.add("proxy.affinity.cookie", "%q is not a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~ only)", a.Cookie)
	case a.Cookie == c.Session.CookieName:
		p.add("proxy.affinity.cookie", "must differ from session.cookie_name")
	}

	upstreams := make([]string, len(c.Upstreams))
	for i, u := range c.Upstreams {
		upstreams[i] = u.Name
	}
	for _, r := range slices.Sorted(maps.Keys(a.Routes)) {
		validateRoute(p, a.Mode, r, a.Routes[r], upstreams)
	}

	switch {
	case a.Mode == proxy.ValueMap && len(a.Routes) == 0:
		p.add("proxy.affinity.routes", "must not be empty in map mode: the whole cookie value is looked up in it")
	case a.Mode == proxy.RouteSuffix && len(a.Routes) == 0:
		// The route is the upstream's name, so a name with a '.' can
		// never be a route.
		for _, name := range upstreams {
			if strings.Contains(name, ".") {
				p.add("proxy.affinity.routes", "is empty, so routes are upstream names, but upstream %q contains '.' and cannot be a route; map a route to it here", name)
			}
		}
	}
}

// validateRoute checks the entry r: target of proxy.affinity.routes in
// mode: a route that a cookie value can hold, and a target among the
// names of upstreams.
func validateRoute(p *problems, mode proxy.AffinityMode, r, target string, upstreams []string) {
	key := "proxy.affinity.routes." + r
	switch {
	case r == "":
		p.add("proxy.affinity.routes", "a route must not be empty")
	case strings.ContainsFunc(r, badCookieValueRune):
		p.add(key, "the route %q cannot appear in a cookie value (no spaces, '\"', ',', ';', '\\' or control characters)", r)
	case mode == proxy.RouteSuffix && strings.Contains(r, "."):
		p.add(key, "the route %q contains '.', but in route_suffix mode a route is what follows the last '.' of the cookie value", r)
	}
	switch {
	case target == "":
		p.add(key, "must name an upstream")
	case !slices.Contains(upstreams, target):
		p.add(key, "%q is not the name of an upstream (the upstreams are %s)", target, strings.Join(upstreams, ", "))
	}
}

// validateHandover checks server.handover_socket, while it is set: the
// path, then a store that the old and the new process can share while
// they overlap.
func (c Config) validateHandover(p *problems) {
	path := c.Server.HandoverSocket
	switch {
	case !c.Server.HandoverEnabled():
	case !strings.HasPrefix(path, "/"):
		p.add("server.handover_socket", "%q must be an absolute path (the old and the new process must agree on it)", path)
	case len(path) > maxSocketPath:
		p.add("server.handover_socket", "must be at most %d bytes, the limit of a unix socket path (got %d)", maxSocketPath, len(path))
	case strings.ContainsRune(path, 0):
		p.add("server.handover_socket", "must not contain a NUL byte")
	case c.Store.Type == StoreBolt:
		p.add("server.handover_socket", "needs store.type redis or memory: the bolt file stays locked by the running process until it has drained")
	}
}

// percent records a problem when n is not a percentage, 0 to 100.
func percent(p *problems, key string, n int) {
	if n < 0 || n > 100 {
		p.add(key, "must be a percentage from 0 to 100 (got %d)", n)
	}
}

// atLeastOne records a problem when n is less than 1.
func atLeastOne(p *problems, key string, n int) {
	if n < 1 {
		p.add(key, "must be at least 1 (got %d)", n)
	}
}

// checkRequestPath accepts an origin-form request target: a path starting
// with "/", with an optional query, without a fragment or white space.
func checkRequestPath(s string) error {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		return fmt.Errorf("%q must start with a single \"/\"", s)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) || strings.Contains(s, "#") {
		return fmt.Errorf("%q must not contain white space, control characters or '#'", s)
	}
	if _, err := url.ParseRequestURI(s); err != nil {
		return fmt.Errorf("%q is not a valid request path", s)
	}
	return nil
}

// badCookieValueRune reports runes that RFC 6265 does not allow in a
// cookie value.
func badCookieValueRune(r rune) bool {
	return r <= ' ' || r == '"' || r == ',' || r == ';' || r == '\\' || r >= 0x7f
}

// PoolOptions translates the upstream part of the config for the proxy
// (upstreams, policy, health checks, ejection, affinity, retries):
// what NewPool takes at start and Pool.Update takes on SIGHUP.
func (c Config) PoolOptions() (proxy.PoolOptions, error) {
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
