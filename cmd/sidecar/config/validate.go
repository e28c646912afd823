package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Minimum lengths of secrets, in bytes.
const (
	minSecretBytes = 32 // session.secrets[*], headers.secret
	// minHeaderMaxBytes is the least headers.max_bytes: a session header
	// without data takes about 400 bytes, and less than a kilobyte leaves
	// no room for any.
	minHeaderMaxBytes = 1024
	minTokenBytes     = 16 // admin.token, lock_service.token
)

// problems collects validation errors.
type problems []error

// add records a problem with key.
func (p *problems) add(key, format string, args ...any) {
	*p = append(*p, keyErr(key, format, args...))
}

// check records err, if any, as a problem with key.
func (p *problems) check(key string, err error) {
	if err != nil {
		p.add(key, "%v", err)
	}
}

// positive records a problem when d is not greater than zero.
func (p *problems) positive(key string, d time.Duration) {
	if d <= 0 {
		p.add(key, "must be greater than 0 (got %v)", d)
	}
}

// Validate checks every rule and returns all problems at once, as an
// errors.Join of *[KeyError], or nil. It does no I/O: the *_file keys are
// read by [Load], the files named by tls.* are opened by the server, and
// those of store.redis.tls, locks.redlock_tls and proxy.upstream_tls by
// the wiring that builds the clients (`sidecar check` included).
// Only the section of the selected store (store.bolt or store.redis) is
// checked, and the keys of a feature that is off (admin.*,
// proxy.health_check.*, proxy.passive.cooldown and base_ejection,
// proxy.affinity.* but its
// mode, session.lock.* but its on_timeout while session.locking is off,
// locks.* while neither session locking nor the lock service is on,
// lock_service.*) are not. The enum keys proxy.policy,
// proxy.affinity.mode and session.lock.on_timeout are checked by the
// Validate method of their package proxy type. Rules between keys are
// checked too, such as server.handover_socket, which needs store.type
// redis or memory. No message contains a secret's value.
func (c Config) Validate() error {
	var p problems
	if err := checkHostPort(c.Listen); err != nil {
		p.add("listen", "%v", err)
	}
	c.validateUpstreams(&p)

	p.positive("server.read_header_timeout", c.Server.ReadHeaderTimeout)
	p.positive("server.idle_timeout", c.Server.IdleTimeout)
	p.positive("server.shutdown_timeout", c.Server.ShutdownTimeout)
	c.validateHandover(&p)
	c.Server.TrustedProxies.validate(&p, "server.trusted_proxies")
	c.Limits.validate(&p)
	c.Runtime.validate(&p)

	p.positive("proxy.dial_timeout", c.Proxy.DialTimeout)
	p.positive("proxy.response_header_timeout", c.Proxy.ResponseHeaderTimeout)
	p.positive("proxy.idle_conn_timeout", c.Proxy.IdleConnTimeout)
	for _, u := range c.Proxy.Upgrades {
		if strings.EqualFold(strings.TrimSpace(u), "h2c") {
			p.add("proxy.upgrades", "h2c may not be tunnelled: requests inside it would bypass Sidecar")
		}
	}
	if c.Proxy.MaxIdleConnsPerHost <= 0 {
		p.add("proxy.max_idle_conns_per_host", "must be greater than 0 (got %d)", c.Proxy.MaxIdleConnsPerHost)
	}
	c.validatePool(&p)

	c.Store.validate(&p)
	c.Session.validate(&p)
	c.validateLocks(&p)
	c.validateHeaders(&p)
	c.validateAdmin(&p)
	c.validateLockService(&p)
	c.validateOps(&p)
	p.check("log.level", c.Log.Level.Validate())
	p.check("log.format", c.Log.Format.Validate())
	c.validateLogs(&p)
	c.validateTLS(&p)
	c.validateACMEStorage(&p)
	c.validateBackendTLSAll(&p)
	return errors.Join(p...)
}

func (c Config) validateUpstreams(p *problems) {
	if len(c.Upstreams) == 0 {
		p.add("upstreams", "at least one upstream is required")
		return
	}
	seen := make(map[string]int)
	for i, u := range c.Upstreams {
		key := fmt.Sprintf("upstreams[%d]", i)
		switch {
		case u.Name == "":
			p.add(key+".name", "must not be empty")
		case !isName(u.Name):
			p.add(key+".name", "%q may contain only letters, digits, '.', '-' and '_'", u.Name)
		default:
			if j, dup := seen[u.Name]; dup {
				p.add(key+".name", "%q is already the name of upstreams[%d]", u.Name, j)
			} else {
				seen[u.Name] = i
			}
		}
		p.check(key+".url", checkUpstreamURL(u.URL))
		atLeastOne(p, key+".weight", u.Weight)
	}
}

// checkUpstreamURL requires an http or https URL with a host and no
// credentials. It never repeats the URL, which may hold a password.
func checkUpstreamURL(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("not a valid URL: %v", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New(`must start with "http://" or "https://"`)
	case u.User != nil:
		return errors.New("must not contain credentials")
	case u.Host == "":
		return errors.New("must have a host")
	}
	return nil
}

func (s StoreConfig) validate(p *problems) {
	p.check("store.type", s.Type.Validate())
	p.positive("store.timeout", s.Timeout)
	switch {
	case s.RetryAfter < time.Second:
		p.add("store.retry_after", "must be at least 1s (got %v)", s.RetryAfter)
	case s.RetryAfter%time.Second != 0:
		p.add("store.retry_after", "must be whole seconds (got %v)", s.RetryAfter)
	}
	switch s.Type {
	case StoreBolt:
		if s.Bolt.Path == "" {
			p.add("store.bolt.path", "must not be empty")
		}
		p.positive("store.bolt.sweep_interval", s.Bolt.SweepInterval)
	case StoreRedis:
		r := s.Redis
		if len(r.Addrs) == 0 {
			p.add("store.redis.addrs", "at least one address is required")
		}
		checkRedisAddrs(p, "store.redis.addrs", r.Addrs)
		switch {
		case r.DB < 0:
			p.add("store.redis.db", "must not be negative (got %d)", r.DB)
		case r.DB != 0 && len(r.Addrs) > 1 && r.MasterName == "":
			p.add("store.redis.db", "must be 0 with Redis Cluster (several addrs and no master_name); got %d", r.DB)
		}
		if r.PoolSize < 0 {
			p.add("store.redis.pool_size", "must not be negative (got %d)", r.PoolSize)
		}
		r.validateCache(p)
	}
}

// Bounds of store.redis.cache_staleness.
const (
	minCacheStaleness = 10 * time.Millisecond
	maxCacheStaleness = 10 * time.Second
)

// validateCache checks the store.redis.cache_* keys.
func (r RedisConfig) validateCache(p *problems) {
	if r.CacheMaxEntries <= 0 {
		p.add("store.redis.cache_max_entries", "must be positive (got %d)", r.CacheMaxEntries)
	}
	if r.CacheMaxBytes <= 0 {
		p.add("store.redis.cache_max_bytes", "must be positive (got %d)", r.CacheMaxBytes)
	}
	if r.CacheStaleness < minCacheStaleness || r.CacheStaleness > maxCacheStaleness {
		p.add("store.redis.cache_staleness", "must be between %v and %v (got %v)", minCacheStaleness, maxCacheStaleness, r.CacheStaleness)
	}
}

func (s SessionConfig) validate(p *problems) {
	s.validateCookie(p)
	if len(s.Secrets) == 0 {
		p.add("session.secrets", "at least one secret is required (or set session.secrets_file)")
	}
	for i, sec := range s.Secrets {
		if len(sec) < minSecretBytes {
			p.add(fmt.Sprintf("session.secrets[%d]", i), "must be at least %d bytes (got %d)", minSecretBytes, len(sec))
		}
	}
	s.validateLifetimes(p)
	p.check("session.locking", s.Locking.Validate())
	s.validateSessionLock(p)
}

// validateCookie checks the session.cookie_* keys, together with the rules
// browsers enforce on SameSite=None and on the __Secure- and __Host- name
// prefixes.
func (s SessionConfig) validateCookie(p *problems) {
	switch {
	case s.CookieName == "":
		p.add("session.cookie_name", "must not be empty")
	case !isToken(s.CookieName):
		p.add("session.cookie_name", "%q is not a valid cookie name (letters, digits and !#$%%&'*+-.^_`|~ only)", s.CookieName)
	}
	if !strings.HasPrefix(s.CookiePath, "/") || strings.ContainsFunc(s.CookiePath, badCookieAttrRune) {
		p.add("session.cookie_path", "%q must start with \"/\" and contain no ';', spaces or control characters", s.CookiePath)
	}
	if strings.ContainsFunc(s.CookieDomain, func(r rune) bool { return badCookieAttrRune(r) || r == ',' || r == '/' }) {
		p.add("session.cookie_domain", "%q is not a domain name", s.CookieDomain)
	}
	p.check("session.cookie_same_site", s.CookieSameSite.Validate())
	p.check("session.cookie_secure", s.CookieSecure.Validate())

	secure := s.CookieSecure == CookieSecureAlways
	if s.CookieSameSite == SameSiteNone && !secure {
		p.add("session.cookie_same_site", `"none" requires session.cookie_secure: always (browsers reject SameSite=None without Secure)`)
	}
	host := hasPrefixFold(s.CookieName, "__Host-")
	if (host || hasPrefixFold(s.CookieName, "__Secure-")) && !secure {
		p.add("session.cookie_secure", "must be always for a cookie name starting with __Secure- or __Host-")
	}
	if host && (s.CookiePath != "/" || s.CookieDomain != "") {
		p.add("session.cookie_name", `a __Host- cookie requires session.cookie_path "/" and no session.cookie_domain`)
	}
}

// validateLifetimes checks session.idle_timeout, absolute_timeout,
// touch_interval, max_bytes and tombstone_ttl.
func (s SessionConfig) validateLifetimes(p *problems) {
	p.positive("session.idle_timeout", s.IdleTimeout)
	if s.IdleTimeout > 0 && s.AbsoluteTimeout < s.IdleTimeout {
		p.add("session.absolute_timeout", "must be at least session.idle_timeout (%v), got %v", s.IdleTimeout, s.AbsoluteTimeout)
	}
	switch {
	case s.TouchInterval <= 0:
		p.add("session.touch_interval", "must be greater than 0 (got %v)", s.TouchInterval)
	case s.IdleTimeout > 0 && s.TouchInterval >= s.IdleTimeout:
		p.add("session.touch_interval", "must be less than session.idle_timeout (%v), got %v", s.IdleTimeout, s.TouchInterval)
	}
	if s.MaxBytes <= 0 {
		p.add("session.max_bytes", "must be greater than 0 (got %d)", s.MaxBytes)
	}
	if s.TombstoneTTL < 0 {
		p.add("session.tombstone_ttl", "must not be negative (got %v; 0 turns tombstones off)", s.TombstoneTTL)
	}
}

func (c Config) validateHeaders(p *problems) {
	h := c.Headers
	switch {
	case h.Prefix == "":
		p.add("headers.prefix", "must not be empty")
	case !isToken(h.Prefix):
		p.add("headers.prefix", "%q is not a valid header name", h.Prefix)
	}
	p.check("headers.algorithm", h.Algorithm.Validate())
	h.validateKeys(p)
	switch {
	case usesKeys(h.Algorithm) && h.Secret == "":
	case h.Secret == "":
		p.add("headers.secret", "is required (or set headers.secret_file); or sign with headers.algorithm EdDSA and headers.key_files")
	case len(h.Secret) < minSecretBytes:
		p.add("headers.secret", "must be at least %d bytes (got %d)", minSecretBytes, len(h.Secret))
	}
	for i, sec := range c.Session.Secrets {
		if h.Secret != "" && h.Secret == sec {
			p.add("headers.secret", "must differ from every session secret (it equals session.secrets[%d])", i)
		}
	}
	if h.Issuer == "" {
		p.add("headers.issuer", "must not be empty")
	}
	if h.Audience == "" {
		p.add("headers.audience", "must not be empty")
	}
	p.positive("headers.ttl", h.TTL)
	if h.MaxBytes < minHeaderMaxBytes {
		p.add("headers.max_bytes", "must be at least %d (got %d)", minHeaderMaxBytes, h.MaxBytes)
	}
}

func (c Config) validateAdmin(p *problems) {
	a := c.Admin
	if !a.Enabled() {
		return
	}
	if err := checkHostPort(a.Listen); err != nil {
		p.add("admin.listen", "%v", err)
	} else {
		host, _, _ := net.SplitHostPort(a.Listen)
		if !a.AllowRemote && !isLoopback(host) {
			p.add("admin.listen", "%q is not a loopback address; use 127.0.0.1, [::1] or localhost, or set admin.allow_remote: true", a.Listen)
		}
		if a.Listen == c.Listen {
			p.add("admin.listen", "must differ from listen")
		}
	}
	for i, h := range a.Hosts {
		if err := checkDomain(h); err != nil {
			p.add(fmt.Sprintf("admin.hosts[%d]", i), "%v", err)
		}
	}
	switch {
	case a.Token == "":
		p.add("admin.token", "is required when admin.listen is set (or set admin.token_file)")
	case len(a.Token) < minTokenBytes:
		p.add("admin.token", "must be at least %d bytes (got %d)", minTokenBytes, len(a.Token))
	}
}

func (t TLSConfig) validate(p *problems) {
	if t.CertFile != "" && t.KeyFile == "" {
		p.add("tls.key_file", "is required when tls.cert_file is set")
	}
	if t.KeyFile != "" && t.CertFile == "" {
		p.add("tls.cert_file", "is required when tls.key_file is set")
	}
	a := t.ACME
	if a.Enabled() && t.CertFile != "" {
		p.add("tls.acme.domains", "cannot be used together with tls.cert_file; choose ACME or a static certificate")
	}
	for i, d := range a.Domains {
		if err := checkDomain(d); err != nil {
			p.add(fmt.Sprintf("tls.acme.domains[%d]", i), "%v", err)
		}
	}
	if a.Email != "" && !strings.Contains(a.Email, "@") {
		p.add("tls.acme.email", "%q is not an email address", a.Email)
	}
	if a.CA != "" {
		if u, err := url.Parse(a.CA); err != nil || u.Scheme != "https" || u.Host == "" {
			p.add("tls.acme.ca", "%q is not an https:// ACME directory URL", a.CA)
		}
	}
}

// checkHostPort requires "host:port" with a numeric port; the host may be
// empty (all interfaces).
func checkHostPort(addr string) error {
	if addr == "" {
		return errors.New("must not be empty")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port must be a number from 0 to 65535", addr)
	}
	return nil
}

// checkDomain accepts a host name for a certificate: no scheme, port, path
// or wildcard (wildcards need a DNS challenge, which Sidecar does not do).
func checkDomain(d string) error {
	switch {
	case d == "":
		return errors.New("must not be empty")
	case strings.Contains(d, "*"):
		return fmt.Errorf("%q: wildcard names are not supported", d)
	case strings.ContainsAny(d, ":/ \t@"):
		return fmt.Errorf("%q is not a host name (no scheme, port or path)", d)
	}
	return nil
}

// isLoopback reports whether host is "localhost" or a loopback IP.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// isName reports whether s is made of letters, digits, '.', '-' and '_'.
func isName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// isToken reports whether s is a non-empty RFC 9110 token, the syntax of
// both cookie names and header names.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// badCookieAttrRune reports runes that may not appear in a cookie attribute
// value.
func badCookieAttrRune(r rune) bool {
	return r == ';' || r == ' ' || r < 0x20 || r == 0x7f || r > 0x7e
}

// hasPrefixFold is strings.HasPrefix ignoring ASCII case.
func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
