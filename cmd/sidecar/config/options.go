package config

import (
	"context"
	"crypto/tls"
	"time"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/internal/redisclient"
	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/server"
	"github.com/sidecarproxy/sidecar/sessions"
	boltstore "github.com/sidecarproxy/sidecar/stores/bolt"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
)

// This file builds library option values from the config (the server's,
// the Redis client's, the session manager's, the proxy's);
// cmd/sidecar/app wires them to what it opened.

// ServerOptions is the proxy listener's setup from listen and server.*;
// the handler, the TLS configuration, the side servers and the logger
// are the caller's to add.
func (c Config) ServerOptions() server.Options {
	return server.Options{
		Listen:            c.Listen,
		ReadHeaderTimeout: c.Server.ReadHeaderTimeout,
		IdleTimeout:       c.Server.IdleTimeout,
		ShutdownTimeout:   c.Server.ShutdownTimeout,
		MaxHeaderBytes:    c.Limits.MaxHeaderBytes, // the proxy enforces it exactly
		HandoverSocket:    c.Server.HandoverSocket,
	}
}

// Options is the bolt store's setup; beforeCommit is its test seam
// (boltstore.Options.BeforeCommit), nil in production.
func (b BoltConfig) Options(beforeCommit func(context.Context)) boltstore.Options {
	return boltstore.Options{SweepInterval: b.SweepInterval, NoSync: b.NoSync, BeforeCommit: beforeCommit}
}

// StoreOptions is the Redis store's setup: store.redis.prefix and the
// cache keys, the cache's changes of state logged to log.
func (r RedisConfig) StoreOptions(log *zerolog.Logger) redisstore.Options {
	return redisstore.Options{
		Prefix: r.Prefix,
		Cache: redisstore.CacheOptions{
			Enabled:    r.Cache,
			MaxEntries: r.CacheMaxEntries,
			MaxBytes:   r.CacheMaxBytes,
			Staleness:  r.CacheStaleness,
			OnChange: func(usable bool, err error) {
				if usable {
					log.Info().Dur("staleness", r.CacheStaleness).Msg("redis cache: tracking every master; session reads are served from memory")
					return
				}
				log.Warn().Err(err).Msg("redis cache: bypassed; session reads go to Redis until its invalidation channels are back")
			},
		},
	}
}

// ClientOptions is the store's Redis client, speaking TLS with tlsConf
// when it is not nil.
func (r RedisConfig) ClientOptions(tlsConf *tls.Config) redisclient.Options {
	return redisclient.Options{
		Addrs:      r.HostPorts(),
		MasterName: r.MasterName,
		Username:   r.Username,
		Password:   string(r.Password),
		DB:         r.DB,
		PoolSize:   r.PoolSize,
		TLS:        tlsConf,
	}
}

// HeaderOptions is the session header signer's setup: headers.algorithm,
// headers.secret (HS256) or the keys of headers.key_files (EdDSA, ES256)
// as Load read them, and the other headers.* keys.
func (h HeadersConfig) HeaderOptions() sessions.HeaderOptions {
	o := sessions.HeaderOptions{
		Algorithm: sessions.Algorithm(h.Algorithm),
		Secret:    h.Secret.Bytes(),
		Issuer:    h.Issuer,
		Audience:  h.Audience,
		TTL:       h.TTL,
		MaxBytes:  h.MaxBytes,
	}
	if usesKeys(h.Algorithm) {
		o.Secret, o.Keys = nil, h.signers()
	}
	return o
}

// ManagerOptions is the session manager's setup over store, with the
// cookie signer and the header signer of keys.
func (c Config) ManagerOptions(store sessions.Store, keys proxy.Keys) sessions.Options {
	s := c.Session
	return sessions.Options{
		Store:           store,
		Signer:          keys.Cookie,
		IdleTimeout:     s.IdleTimeout,
		AbsoluteTimeout: s.AbsoluteTimeout,
		TouchInterval:   s.TouchInterval,
		MaxBytes:        s.MaxBytes,
		StoreTimeout:    c.Store.Timeout,
		// Writes must fit headers.max_bytes. A header's length does not
		// depend on its secret, so a rotated one leaves this budget right.
		Header:       keys.Header,
		TombstoneTTL: tombstoneTTL(s.TombstoneTTL),
	}
}

// tombstoneTTL maps session.tombstone_ttl, where 0 turns tombstones off, to
// sessions.Options.TombstoneTTL, where 0 is the default and a negative
// value turns them off.
func tombstoneTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// TransportOptions is the transport to the upstreams, trusting upstreamTLS
// for https:// upstreams (those a reload adds too).
func (c Config) TransportOptions(upstreamTLS *tls.Config) proxy.TransportOptions {
	p := c.Proxy
	return proxy.TransportOptions{
		DialTimeout:           p.DialTimeout,
		ResponseHeaderTimeout: p.ResponseHeaderTimeout,
		IdleConnTimeout:       p.IdleConnTimeout,
		MaxIdleConnsPerHost:   p.MaxIdleConnsPerHost,
		// Room for the largest patch a response may send, and as much again.
		MaxResponseHeaderBytes: max(proxy.DefaultMaxResponseHeaderBytes, 2*sessions.PatchBytesFactor*int64(c.Session.MaxBytes)),
		TLSClientConfig:        upstreamTLS,
	}
}

// CookieOptions is the proxy's session cookie: session.cookie_* and
// session.strip_cookie.
func (s SessionConfig) CookieOptions() proxy.CookieOptions {
	return proxy.CookieOptions{
		Name:         s.CookieName,
		Path:         s.CookiePath,
		Domain:       s.CookieDomain,
		SameSite:     s.CookieSameSite.HTTP(),
		AlwaysSecure: s.CookieSecure == CookieSecureAlways,
		Persistent:   s.CookiePersistent,
		KeepUpstream: !s.StripCookie,
	}
}

// LockingOptions is the proxy's session locking through locker, off
// unless session.locking is "session".
func (s SessionConfig) LockingOptions(locker *lock.Locker) proxy.Locking {
	if s.Locking != LockingSession {
		return proxy.Locking{}
	}
	return proxy.Locking{
		Locker:    locker,
		Wait:      s.Lock.Wait,
		TTL:       s.Lock.TTL,
		OnTimeout: s.Lock.OnTimeout,
		SkipPaths: s.Lock.SkipPaths,
	}
}

// UpgradeList is proxy.upgrades for the proxy: in the config an empty
// list means none, where the library reads nil as its default.
func (p ProxyConfig) UpgradeList() []string {
	if p.Upgrades == nil {
		return []string{}
	}
	return p.Upgrades
}
