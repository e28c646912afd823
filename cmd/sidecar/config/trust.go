package config

import (
	"fmt"

	"github.com/sidecarproxy/sidecar/proxy"
)

// TrustedProxies lists the load balancers and proxies in front of Sidecar
// whose X-Forwarded-For, X-Forwarded-Proto and X-Forwarded-Host it
// believes (server.trusted_proxies): CIDR prefixes ("10.0.0.0/8",
// "fd00::/8") or single addresses ("192.0.2.7"), as
// [proxy.ParseTrustedProxy] reads them. Empty, the default, trusts nobody:
// every client is the address of its own connection. It takes a restart
// (see [Config.Reload]).
type TrustedProxies []string

// validate records a problem, named key[i], for each entry that is not a
// prefix or an address.
func (t TrustedProxies) validate(p *problems, key string) {
	for i, s := range t {
		if _, err := proxy.ParseTrustedProxy(s); err != nil {
			p.add(fmt.Sprintf("%s[%d]", key, i), "%v", err)
		}
	}
}

// Prefixes returns the list for proxy.Options.TrustedProxies; it skips
// entries that do not parse, which a validated Config has none of.
func (t TrustedProxies) Prefixes() proxy.TrustedProxies {
	var out proxy.TrustedProxies
	for _, s := range t {
		if p, err := proxy.ParseTrustedProxy(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// trustWarning warns when server.trusted_proxies trusts every peer (a /0
// prefix): any client can then name its own address and scheme.
func (t TrustedProxies) trustWarning() string {
	for _, p := range t.Prefixes() {
		if p.Bits() == 0 {
			return fmt.Sprintf("server.trusted_proxies contains %s, which trusts every client: any client can set its own address (X-Forwarded-For) and make Sidecar believe it used https; list only the load balancers in front of Sidecar", p)
		}
	}
	return ""
}
