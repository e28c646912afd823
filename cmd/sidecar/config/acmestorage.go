package config

import "strings"

// ACMEStorageType selects where ACME certificates, their private keys and
// the ACME account live (tls.acme.storage_type). Restart-only, like every
// tls.* key.
type ACMEStorageType string

// The ACME storages.
const (
	// ACMEStorageFile is certmagic's file storage in the directory
	// tls.acme.storage, for one Sidecar (or a fleet sharing a network
	// file system); the default.
	ACMEStorageFile ACMEStorageType = "file"
	// ACMEStorageRedis is the session store's Redis (store.redis.*,
	// package certstore), under the keys {<store.redis.prefix>certs:}…,
	// for a fleet of Sidecars: they share the certificates, and
	// certmagic's locks, kept in the same Redis under locks.prefix, let
	// one instance at a time order a certificate. It needs store.type
	// redis.
	ACMEStorageRedis ACMEStorageType = "redis"
)

// Validate reports whether t is one of the ACME storages.
func (t ACMEStorageType) Validate() error {
	return oneOf(t, ACMEStorageFile, ACMEStorageRedis)
}

// validateACMEStorage checks tls.acme.storage_type, and while ACME is on
// what it needs: store.type redis and a store.redis.prefix that can be a
// hash tag for Redis storage. tls.acme.storage (the directory of file
// storage, which has a default) is ignored with Redis storage.
func (c Config) validateACMEStorage(p *problems) {
	a := c.TLS.ACME
	p.check("tls.acme.storage_type", a.StorageType.Validate())
	if !a.Enabled() || a.StorageType != ACMEStorageRedis {
		return
	}
	if c.Store.Type != StoreRedis {
		p.add("tls.acme.storage_type", "redis keeps certificates in the session store's Redis and needs store.type redis (got %q); use file, or store.type redis", c.Store.Type)
		return
	}
	if strings.ContainsAny(c.Store.Redis.Prefix, "{}") {
		p.add("store.redis.prefix", "%q may not contain '{' or '}' with tls.acme.storage_type redis: the certificate keys wrap it in a Redis Cluster hash tag", c.Store.Redis.Prefix)
	}
}
