package app

import (
	"fmt"

	"github.com/caddyserver/certmagic"
	goredis "github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/tlsedge/certstore"
)

// certStorePrefixSuffix follows store.redis.prefix in the certificate
// storage's prefix: "sidecar:" gives certstore's default,
// "sidecar:certs:".
const certStorePrefixSuffix = "certs:"

// certStorage returns the certmagic storage tls.acme.storage_type selects,
// for the certmagic Config: nil for file (certmagic's FileStorage in
// tls.acme.storage, which the ACME builder sets up), or with redis a
// certstore.Storage on the session store's client storeRedis (openStore's
// second result), under store.redis.prefix+"certs:".
//
// The storage's locks live next to the certificates, in the store's
// Redis, on a Locker of their own with locks.prefix (lock keys
// <locks.prefix>certs:<name>), whether or not session locking or the lock
// service built one. certStorage registers the Locker's and the storage's
// closers, so that at shutdown the storage releases the locks it still
// holds before the Locker and the client close. It does no I/O, so
// `sidecar check` builds it too.
func (m *Main) certStorage(storeRedis goredis.UniversalClient) (certmagic.Storage, error) {
	c := m.cfg
	if !c.TLS.ACME.Enabled() || c.TLS.ACME.StorageType != config.ACMEStorageRedis {
		return nil, nil
	}
	if storeRedis == nil { // Validate refuses this: store.type must be redis
		return nil, fmt.Errorf("tls.acme.storage_type: redis needs store.type redis")
	}
	locker := lock.NewRedis(storeRedis, lock.Options{Prefix: c.Locks.Prefix})
	m.onClose(locker.Close)
	s, err := certstore.New(storeRedis, locker, certstore.Options{
		Prefix: c.Store.Redis.Prefix + certStorePrefixSuffix,
	})
	if err != nil {
		return nil, fmt.Errorf("tls.acme.storage_type: %w", err)
	}
	m.onClose(s.Close)
	m.log.Info().Str("prefix", c.Store.Redis.Prefix+certStorePrefixSuffix).Msg("ACME certificates in the session store's Redis")
	return s, nil
}
