package config

import (
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/proxy"
)

// The sections that configure Sidecar's locks (package lock): the lock of
// a session's requests (session.lock), where locks live (locks) and the
// HTTP lock service for the apps (lock_service). Every key takes a
// restart (see [Config.Reload]).

// minRedlockAddrs is the least number of Redlock masters: with fewer, a
// majority is every master, and one that is down blocks every lock.
const minRedlockAddrs = 3

// Where locks live, as [Config.LockScope] names it.
const (
	// LockScopeRedlock: a majority of the independent Redis masters of
	// locks.redlock_addrs (lock.NewRedlock).
	LockScopeRedlock = "redlock"
	// LockScopeRedis: the session store's Redis, store.redis
	// (lock.NewRedis).
	LockScopeRedis = "redis"
	// LockScopeProcess: this Sidecar process (lock.NewLocal), with the
	// embedded stores; the locks exclude nothing outside it.
	LockScopeProcess = "process"
)

// SessionLockConfig configures the lock that serialises the requests of
// one session (session.lock). It is used while session.locking is
// [LockingSession]; otherwise only OnTimeout is checked.
type SessionLockConfig struct {
	// Wait is how long a request waits for its session's lock. Greater
	// than 0. Default 5s.
	Wait time.Duration `koanf:"wait"`
	// TTL is the lease of a lock: it is extended while the request is
	// being served, and runs out this long after a Sidecar that holds it
	// stops. At least 1ms ([lock.MinTTL]); independent of Wait. Default
	// 30s.
	TTL time.Duration `koanf:"ttl"`
	// OnTimeout is what happens to a request whose Wait ran out: reject
	// ([proxy.RejectOnTimeout]: 503 with Retry-After) or proceed
	// ([proxy.ProceedOnTimeout]: served without the lock, and logged).
	// Default reject.
	OnTimeout proxy.OnLockTimeout `koanf:"on_timeout"`
	// SkipPaths are path.Match patterns of request paths that never take
	// the lock, e.g. "/static/*" or "/poll"; each starts with "/". A '*'
	// does not match '/', so "/static/*" does not match
	// "/static/css/a.css". Default: none.
	SkipPaths []string `koanf:"skip_paths"`
}

// LocksConfig says where locks live, for session locking and the lock
// service (locks). Its keys are checked while either is on.
type LocksConfig struct {
	// RedlockAddrs are the host:port addresses (rediss://host:port for
	// TLS, all or none) of independent Redis masters, at least 3 and distinct (an odd number is best), that hold
	// locks by majority (the Redlock algorithm). Empty (the default): the
	// locks live in the session store's Redis with store.type redis, and
	// in this process with bolt and memory. See [Config.LockScope].
	RedlockAddrs []string `koanf:"redlock_addrs"`
	// RedlockPassword is the password of the Redlock masters; empty: none.
	// Alternatively RedlockPasswordFile. Used only with RedlockAddrs (the
	// store's Redis keeps store.redis.password).
	RedlockPassword Secret `koanf:"redlock_password"`
	// RedlockPasswordFile is a file holding RedlockPassword.
	RedlockPasswordFile string `koanf:"redlock_password_file"`
	// RedlockTLS is how the Redlock masters are trusted, when their
	// addresses are rediss://host:port, and what Sidecar presents to them;
	// see [BackendTLSConfig].
	RedlockTLS BackendTLSConfig `koanf:"redlock_tls"`
	// Prefix starts the Redis key of every lock and the locks' release
	// channel (lock.Options.Prefix); not empty. Default "sidecar:lock:".
	Prefix string `koanf:"prefix"`
}

// LockServiceConfig configures the HTTP lock service through which the
// apps take locks shared by the whole pool (lock_service). It is off
// while Listen is empty, and then the other keys are not checked.
type LockServiceConfig struct {
	// Listen is the service's host:port; it may be a non-loopback address,
	// for apps on other hosts, and must differ from listen and
	// admin.listen. Default "": disabled.
	Listen string `koanf:"listen"`
	// Token is the bearer token the apps send: at least 16 bytes,
	// different from admin.token and from every session secret. Required
	// when Listen is set (here or in TokenFile).
	Token Secret `koanf:"token"`
	// TokenFile is a file holding Token.
	TokenFile string `koanf:"token_file"`
	// MaxTTL is the longest lease an app may ask for. At least 1ms
	// ([lock.MinTTL]). Default 5m.
	MaxTTL time.Duration `koanf:"max_ttl"`
	// MaxWait is the longest wait for a lock an app may ask for. Greater
	// than 0. Default 30s.
	MaxWait time.Duration `koanf:"max_wait"`
}

// Enabled reports whether the lock service is on (Listen is set).
func (l LockServiceConfig) Enabled() bool { return l.Listen != "" }

// Redlock reports whether locks are held by a Redlock quorum
// (RedlockAddrs is set).
func (l LocksConfig) Redlock() bool { return len(l.RedlockAddrs) > 0 }

// LockScope says where locks live, for the startup log: [LockScopeRedlock]
// when locks.redlock_addrs is set, else [LockScopeRedis] with store.type
// redis, else [LockScopeProcess]. It answers whether or not anything uses
// locks.
func (c Config) LockScope() string {
	switch {
	case c.Locks.Redlock():
		return LockScopeRedlock
	case c.Store.Type == StoreRedis:
		return LockScopeRedis
	}
	return LockScopeProcess
}

// usesLocks reports whether anything takes locks: session locking or the
// lock service.
func (c Config) usesLocks() bool {
	return c.Session.Locking == LockingSession || c.LockService.Enabled()
}

// validateSessionLock checks session.lock.
func (s SessionConfig) validateSessionLock(p *problems) {
	l := s.Lock
	p.check("session.lock.on_timeout", l.OnTimeout.Validate())
	if s.Locking != LockingSession {
		return
	}
	p.positive("session.lock.wait", l.Wait)
	leaseTTL(p, "session.lock.ttl", l.TTL)
	for i, pat := range l.SkipPaths {
		key := fmt.Sprintf("session.lock.skip_paths[%d]", i)
		if !strings.HasPrefix(pat, "/") {
			p.add(key, "%q must start with \"/\"", pat)
		} else if _, err := path.Match(pat, ""); err != nil {
			p.add(key, "%q is not a valid path.Match pattern (check its [ ] classes and \\ escapes)", pat)
		}
	}
}

// validateLocks checks locks, while anything uses locks.
func (c Config) validateLocks(p *problems) {
	if !c.usesLocks() {
		return
	}
	l := c.Locks
	if l.Prefix == "" {
		p.add("locks.prefix", "must not be empty")
	}
	if !l.Redlock() {
		return
	}
	if len(l.RedlockAddrs) < minRedlockAddrs {
		p.add("locks.redlock_addrs", "needs at least %d Redis masters for a quorum (got %d); leave it empty to keep locks in the session store", minRedlockAddrs, len(l.RedlockAddrs))
	}
	seen := make(map[string]int)
	for i, hp := range checkRedisAddrs(p, "locks.redlock_addrs", l.RedlockAddrs) {
		if hp == "" {
			continue
		}
		host, port, _ := net.SplitHostPort(hp)
		n, _ := strconv.Atoi(port)
		norm := net.JoinHostPort(strings.ToLower(host), strconv.Itoa(n))
		if j, dup := seen[norm]; dup {
			p.add(fmt.Sprintf("locks.redlock_addrs[%d]", i), "%q is the same master as locks.redlock_addrs[%d]; the masters must be distinct", l.RedlockAddrs[i], j)
		} else {
			seen[norm] = i
		}
	}
}

// validateLockService checks lock_service, while it is on.
func (c Config) validateLockService(p *problems) {
	l := c.LockService
	if !l.Enabled() {
		return
	}
	if err := checkHostPort(l.Listen); err != nil {
		p.add("lock_service.listen", "%v", err)
	} else {
		if sameListener(l.Listen, c.Listen) {
			p.add("lock_service.listen", "must differ from listen (%q)", c.Listen)
		}
		if c.Admin.Enabled() && sameListener(l.Listen, c.Admin.Listen) {
			p.add("lock_service.listen", "must differ from admin.listen (%q)", c.Admin.Listen)
		}
	}
	switch {
	case l.Token == "":
		p.add("lock_service.token", "is required when lock_service.listen is set (or set lock_service.token_file)")
	case len(l.Token) < minTokenBytes:
		p.add("lock_service.token", "must be at least %d bytes (got %d)", minTokenBytes, len(l.Token))
	case l.Token == c.Admin.Token:
		p.add("lock_service.token", "must differ from admin.token: the apps must not hold the admin token")
	default:
		for i, sec := range c.Session.Secrets {
			if l.Token == sec {
				p.add("lock_service.token", "must differ from every session secret (it equals session.secrets[%d]); the apps must not hold it", i)
			}
		}
	}
	leaseTTL(p, "lock_service.max_ttl", l.MaxTTL)
	p.positive("lock_service.max_wait", l.MaxWait)
}

// leaseTTL records a problem when d is shorter than the least TTL that
// package lock grants, lock.MinTTL.
func leaseTTL(p *problems, key string, d time.Duration) {
	if d < lock.MinTTL {
		p.add(key, "must be at least %v (got %v)", lock.MinTTL, d)
	}
}

// sameListener reports whether listeners on the host:port addresses a and
// b would take the same port: equal ports other than 0 (any free port),
// and equal hosts or one of them all interfaces ("", 0.0.0.0 or ::).
func sameListener(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil {
		return a == b
	}
	na, errA := strconv.Atoi(pa)
	nb, errB := strconv.Atoi(pb)
	if errA != nil || errB != nil || na != nb || na == 0 {
		return false
	}
	return strings.EqualFold(ha, hb) || allInterfaces(ha) || allInterfaces(hb)
}

// allInterfaces reports whether a listener on host listens on every
// interface.
func allInterfaces(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}
