package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"

	"github.com/sidecarproxy/sidecar/internal/tlsclient"
)

// TLS towards the back ends, where Sidecar is the client: the session
// store's Redis (store.redis.tls), the Redlock masters (locks.redlock_tls)
// and HTTPS upstreams (proxy.upstream_tls). The three sections have the
// same keys. A Redis deployment speaks TLS when its addresses are written
// rediss://host:port, an upstream when its URL is https://; the section
// says whom to trust and what to present. Every key takes a restart; the
// files of a client certificate are read again when they change.

// tlsVersionOf names the crypto/tls constant n, for [Default].
func tlsVersionOf(n uint16) TLSVersion {
	if n == tls.VersionTLS13 {
		return TLS13
	}
	return TLS12
}

// BackendTLSConfig says how Sidecar, as a TLS client, trusts a back end
// and identifies itself to it: store.redis.tls, locks.redlock_tls and
// proxy.upstream_tls.
type BackendTLSConfig struct {
	// CAFile is a PEM bundle of the CAs the server's certificate must
	// chain to, instead of the system's roots. Default "": the system's
	// roots (enough for a managed service with a public CA).
	CAFile string `koanf:"ca_file"`
	// CertFile and KeyFile are a client certificate and its key (PEM),
	// presented when the server asks for one (mutual TLS): both or
	// neither. They are read again when they change on disk. Default "":
	// none.
	CertFile string `koanf:"cert_file"`
	KeyFile  string `koanf:"key_file"`
	// ServerName is sent as SNI and must be in the server's certificate.
	// Default "": the host of each address or URL.
	ServerName string `koanf:"server_name"`
	// MinVersion is the lowest TLS version offered: "1.2" or "1.3".
	// Default "1.2" ([tlsclient.DefaultMinVersion]).
	MinVersion TLSVersion `koanf:"min_version"`
	// InsecureSkipVerify accepts any server certificate, so anyone on the
	// network path can read and change the traffic. For a lab only;
	// `sidecar check` and `sidecar serve` warn about it. Default false.
	InsecureSkipVerify bool `koanf:"insecure_skip_verify"`
}

// defaultBackendTLS is the default of each of the three sections.
func defaultBackendTLS() BackendTLSConfig {
	return BackendTLSConfig{MinVersion: tlsVersionOf(tlsclient.DefaultMinVersion)}
}

// customised reports whether any key of b differs from its default (an
// empty min_version, as in a Config built without [Default], counts as
// the default).
func (b BackendTLSConfig) customised() bool {
	if b.MinVersion == "" {
		b.MinVersion = defaultBackendTLS().MinVersion
	}
	return b != defaultBackendTLS()
}

// redisTLSScheme starts an address of store.redis.addrs or
// locks.redlock_addrs whose server speaks TLS.
const redisTLSScheme = "rediss://"

// splitRedisAddr returns addr without a leading rediss:// (any case), and
// whether it had one.
func splitRedisAddr(addr string) (hostPort string, useTLS bool) {
	if len(addr) >= len(redisTLSScheme) && strings.EqualFold(addr[:len(redisTLSScheme)], redisTLSScheme) {
		return addr[len(redisTLSScheme):], true
	}
	return addr, false
}

// redisHostPorts returns addrs without their rediss:// and whether the
// first one had it (a validated list has it on all or none).
func redisHostPorts(addrs []string) ([]string, bool) {
	out := make([]string, len(addrs))
	first := false
	for i, a := range addrs {
		var t bool
		out[i], t = splitRedisAddr(a)
		if i == 0 {
			first = t
		}
	}
	return out, first
}

// HostPorts returns store.redis.addrs as host:port, without rediss://.
func (r RedisConfig) HostPorts() []string {
	hp, _ := redisHostPorts(r.Addrs)
	return hp
}

// UseTLS reports whether the store's Redis speaks TLS: its addresses are
// written rediss://host:port. Then TLS describes the connection.
func (r RedisConfig) UseTLS() bool {
	_, t := redisHostPorts(r.Addrs)
	return t
}

// RedlockHostPorts returns locks.redlock_addrs as host:port, without
// rediss://.
func (l LocksConfig) RedlockHostPorts() []string {
	hp, _ := redisHostPorts(l.RedlockAddrs)
	return hp
}

// RedlockUseTLS reports whether the Redlock masters speak TLS: their
// addresses are written rediss://host:port. Then RedlockTLS describes the
// connections.
func (l LocksConfig) RedlockUseTLS() bool {
	_, t := redisHostPorts(l.RedlockAddrs)
	return t
}

// UpstreamsUseTLS reports whether any upstream URL is https://, so that
// proxy.upstream_tls is used.
func (c Config) UpstreamsUseTLS() bool {
	for _, u := range c.Upstreams {
		if pu, err := u.ParseURL(); err == nil && pu.Scheme == "https" {
			return true
		}
	}
	return false
}

// checkRedisAddrs records the problems of the Redis addresses of key (a
// list): each must be host:port with a host, optionally after rediss://,
// and all or none have rediss://. It returns the host:port of each valid
// address, in order, and "" for each invalid one. Messages never repeat
// an address holding '@', which may carry a password.
func checkRedisAddrs(p *problems, key string, addrs []string) []string {
	out := make([]string, len(addrs))
	useTLS := 0
	for i, a := range addrs {
		ekey := fmt.Sprintf("%s[%d]", key, i)
		hp, t := splitRedisAddr(a)
		if t {
			useTLS++
		}
		if strings.Contains(hp, "://") || strings.Contains(hp, "@") {
			shown := fmt.Sprintf("%q", a)
			if strings.Contains(a, "@") {
				shown = "the address"
			}
			p.add(ekey, "%s must be host:port, or rediss://host:port for TLS; the user name, password and database have keys of their own", shown)
			continue
		}
		if err := checkHostPort(hp); err != nil {
			p.add(ekey, "%v", err)
			continue
		}
		if host, _, _ := net.SplitHostPort(hp); host == "" {
			p.add(ekey, "%q has no host", a)
			continue
		}
		out[i] = hp
	}
	if useTLS > 0 && useTLS < len(addrs) {
		p.add(key, "mixes rediss:// and plain addresses; the servers of one deployment all speak TLS or none does")
	}
	return out
}

// validateBackendTLS checks the section at key. used says whether any
// connection uses it; unused explains, for a customised section that no
// connection uses, how to turn TLS on ("" accepts such a section).
func validateBackendTLS(p *problems, key string, b BackendTLSConfig, used bool, unused string) {
	if !used {
		if unused != "" && b.customised() {
			p.add(key, "is set, but %s", unused)
		}
		return
	}
	switch {
	case b.CertFile != "" && b.KeyFile == "":
		p.add(key+".key_file", "is required when %s.cert_file is set", key)
	case b.KeyFile != "" && b.CertFile == "":
		p.add(key+".cert_file", "is required when %s.key_file is set", key)
	}
	if b.ServerName != "" && net.ParseIP(b.ServerName) == nil {
		if err := checkDomain(b.ServerName); err != nil {
			p.add(key+".server_name", "%v", err)
		}
	}
	p.check(key+".min_version", b.MinVersion.Validate())
}

// validateBackendTLSAll checks the three sections, each while it is in
// use: store.redis.tls with store.type redis, locks.redlock_tls while
// locks are used with Redlock, proxy.upstream_tls always.
func (c Config) validateBackendTLSAll(p *problems) {
	if c.Store.Type == StoreRedis {
		validateBackendTLS(p, "store.redis.tls", c.Store.Redis.TLS, c.Store.Redis.UseTLS(),
			"no store.redis.addrs entry starts with rediss://; write the addresses as rediss://host:port to connect over TLS")
	}
	if c.usesLocks() && c.Locks.Redlock() {
		validateBackendTLS(p, "locks.redlock_tls", c.Locks.RedlockTLS, c.Locks.RedlockUseTLS(),
			"no locks.redlock_addrs entry starts with rediss://; write the addresses as rediss://host:port to connect over TLS")
	}
	// Upstreams change on reload, so an https:// one may come later.
	validateBackendTLS(p, "proxy.upstream_tls", c.Proxy.UpstreamTLS, true, "")
}

// backendTLSWarnings warns about each section in use that does not
// verify its server, and about proxy.upstream_tls set while no upstream
// is https://.
func (c Config) backendTLSWarnings() []string {
	var out []string
	insecure := func(key string, b BackendTLSConfig, used bool, what string) {
		if used && b.InsecureSkipVerify {
			out = append(out, fmt.Sprintf("%s.insecure_skip_verify is true: Sidecar does not verify the certificate of %s, "+
				"so anyone on the network path can read and change that traffic; trust the server's CA with %s.ca_file instead", key, what, key))
		}
	}
	insecure("store.redis.tls", c.Store.Redis.TLS, c.Store.Type == StoreRedis && c.Store.Redis.UseTLS(), "the store's Redis (sessions)")
	insecure("locks.redlock_tls", c.Locks.RedlockTLS, c.usesLocks() && c.Locks.RedlockUseTLS(), "the Redlock masters")
	insecure("proxy.upstream_tls", c.Proxy.UpstreamTLS, c.UpstreamsUseTLS(), "the https:// upstreams")
	if c.Proxy.UpstreamTLS.customised() && !c.UpstreamsUseTLS() {
		out = append(out, "proxy.upstream_tls is set, but no upstream URL is https://, so it is not used (until a reload adds one)")
	}
	return out
}
