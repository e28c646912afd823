package proxy

import (
	"fmt"
	"net/http"
	"strings"
)

// AffinityMode says how a legacy cookie names its upstream.
type AffinityMode string

// Affinity modes.
const (
	// RouteSuffix reads the part after the last '.' of the cookie value,
	// as Tomcat's jvmRoute does (JSESSIONID=8F3A...C1.node1 → node1).
	RouteSuffix AffinityMode = "route_suffix"
	// ValueMap looks the whole cookie value up in Routes (for CFID and
	// other cookies that carry no route).
	ValueMap AffinityMode = "map"
)

// Validate reports whether m is one of the affinity modes. "" is not one:
// Affinity reads it as RouteSuffix before it validates. The error names the
// value and the accepted ones, without context, for the caller to prefix
// with the field or configuration key.
func (m AffinityMode) Validate() error {
	switch m {
	case RouteSuffix, ValueMap:
		return nil
	}
	return fmt.Errorf("%q is not one of %s, %s", string(m), RouteSuffix, ValueMap)
}

// Affinity keeps users who still hold an in-app session (from before
// Sidecar) on the upstream that holds it, while that upstream is
// available; everyone else goes through the pool's policy. An empty Cookie
// disables it.
type Affinity struct {
	// Cookie is the legacy session cookie's name, e.g. JSESSIONID or CFID.
	Cookie string
	// Mode is how the cookie value names a route; "" means RouteSuffix.
	Mode AffinityMode
	// Routes maps a route (RouteSuffix) or a whole value (ValueMap) to an
	// upstream name. With RouteSuffix and no Routes, the route is the
	// upstream name.
	Routes map[string]string
}

func (a Affinity) validate(names map[string]bool) error {
	if a.Cookie == "" {
		return nil
	}
	if a.Mode != "" {
		if err := a.Mode.Validate(); err != nil {
			return fmt.Errorf("proxy: affinity mode: %w", err)
		}
	}
	if a.Mode == ValueMap && len(a.Routes) == 0 {
		return fmt.Errorf("proxy: affinity mode %q needs routes", a.Mode)
	}
	for k, name := range a.Routes {
		if !names[name] {
			return fmt.Errorf("proxy: affinity route %q names unknown upstream %q", k, name)
		}
	}
	return nil
}

// route returns the upstream r's legacy cookie is pinned to, or nil.
func (a *Affinity) route(r *http.Request, byName map[string]*Backend) *Backend {
	if a.Cookie == "" {
		return nil
	}
	c, err := r.Cookie(a.Cookie)
	if err != nil || c.Value == "" {
		return nil
	}
	key := c.Value
	if a.Mode != ValueMap {
		i := strings.LastIndexByte(key, '.')
		if i < 0 || i == len(key)-1 {
			return nil
		}
		key = key[i+1:]
		if len(a.Routes) == 0 {
			return byName[key]
		}
	}
	return byName[a.Routes[key]]
}
