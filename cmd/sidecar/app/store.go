package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/fscheck"
	"github.com/sidecarproxy/sidecar/sessions"
	boltstore "github.com/sidecarproxy/sidecar/stores/bolt"
	"github.com/sidecarproxy/sidecar/stores/memory"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
	"github.com/sidecarproxy/sidecar/tlsclient"
)

// redisPingTimeout bounds the one Ping at start that tells the operator
// early when Redis is not answering.
const redisPingTimeout = 2 * time.Second

// openStore builds the configured store, registers its closer, and
// returns the Redis client when it is on Redis (locks use it too).
//
// With preflight it opens nothing that outlives the check and touches no
// file: a bolt store is checked (fscheck.File: its directory must exist
// and be writable) and replaced by a memory store for the rest of the
// build, and a Redis client is built but never dialled.
func (m *Main) openStore(ctx context.Context, c config.StoreConfig, preflight bool) (sessions.Store, goredis.UniversalClient, error) {
	switch c.Type {
	case config.StoreMemory:
		s := memory.New(memory.Options{BeforeCommit: m.BeforeCommit})
		m.onClose(s.Close)
		return s, nil, nil
	case config.StoreBolt:
		if preflight {
			if err := fscheck.File(c.Bolt.Path); err != nil {
				return nil, nil, fmt.Errorf("store.bolt.path: %w", err)
			}
			return m.openStore(ctx, config.StoreConfig{Type: config.StoreMemory}, false)
		}
		s, err := boltstore.Open(c.Bolt.Path, boltstore.Options{
			SweepInterval: c.Bolt.SweepInterval,
			NoSync:        c.Bolt.NoSync,
			BeforeCommit:  m.BeforeCommit,
		})
		if err != nil {
			return nil, nil, fmt.Errorf("store.bolt.path: %w", err)
		}
		m.onClose(s.Close)
		return s, nil, nil
	case config.StoreRedis:
		tlsConf, err := m.redisTLS("store.redis.tls", c.Redis.UseTLS(), c.Redis.TLS)
		if err != nil {
			return nil, nil, err
		}
		client := newRedisClient(c.Redis, tlsConf)
		m.onClose(client.Close)
		if !preflight {
			if err := m.pingRedis(ctx, client, c.Redis, tlsConf != nil); err != nil {
				return nil, nil, err
			}
		}
		return redisstore.New(client, redisstore.Options{Prefix: c.Redis.Prefix}), client, nil
	}
	return nil, nil, fmt.Errorf("store.type: unsupported %q", c.Type)
}

// pingRedis sends the one Ping at start. A Redis that does not answer
// does not stop the start: requests that need a session get 503 until it
// does, the rest are served. A TLS fault does (tlsclient.IsSetupFault):
// it is a configuration error that waiting does not cure.
func (m *Main) pingRedis(ctx context.Context, client goredis.UniversalClient, c config.RedisConfig, useTLS bool) error {
	ctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	err := client.Ping(ctx).Err()
	switch {
	case err == nil:
		return nil
	case useTLS && tlsclient.IsSetupFault(err):
		return fmt.Errorf("store.redis.tls: the TLS handshake with Redis failed; check store.redis.tls.ca_file, "+
			"cert_file and server_name, and that the servers of store.redis.addrs speak TLS: %w", err)
	}
	ev := m.log.Error().Err(err).Strs("addrs", c.Addrs)
	switch {
	case !useTLS && tlsclient.IsPlainToTLS(err):
		ev = ev.Str("hint", "if this Redis requires TLS, write its addresses as rediss://host:port")
	case useTLS && tlsclient.IsUnanswered(err):
		ev = ev.Str("hint", "if this Redis does not speak TLS, write its addresses as host:port")
	}
	ev.Msg("redis is not answering yet; session requests get 503 until it does")
	return nil
}

// newRedisClient returns a client for c: standalone for one address,
// cluster for several, sentinel when master_name is set, over TLS with
// tlsConf when it is not nil (with Sentinel, to the Sentinels and the
// master alike). Request deadlines apply to socket I/O
// (ContextTimeoutEnabled), and to the TLS handshake, so a stalled Redis
// costs a request its store budget, not the client's read timeout.
func newRedisClient(c config.RedisConfig, tlsConf *tls.Config) goredis.UniversalClient {
	o := &goredis.UniversalOptions{
		Addrs:                 c.HostPorts(),
		MasterName:            c.MasterName,
		Username:              c.Username,
		Password:              string(c.Password),
		DB:                    c.DB,
		PoolSize:              c.PoolSize,
		ContextTimeoutEnabled: true,
	}
	if tlsConf != nil {
		o.TLSConfig, o.Dialer = tlsConf, tlsclient.DialContext(tlsConf)
	}
	return goredis.NewUniversalClient(o)
}
