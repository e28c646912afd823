package app

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/fscheck"
	"github.com/sidecarproxy/sidecar/internal/redisclient"
	"github.com/sidecarproxy/sidecar/sessions"
	boltstore "github.com/sidecarproxy/sidecar/stores/bolt"
	"github.com/sidecarproxy/sidecar/stores/memory"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
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
		s, err := boltstore.Open(c.Bolt.Path, c.Bolt.Options(m.BeforeCommit))
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
		client := redisclient.New(c.Redis.ClientOptions(tlsConf))
		m.onClose(client.Close)
		if !preflight {
			if err := m.pingRedis(ctx, client, c.Redis, tlsConf != nil); err != nil {
				return nil, nil, err
			}
		}
		s := redisstore.New(client, c.Redis.StoreOptions(&m.log))
		if !preflight { // loads the scripts, runs the cache until closed
			m.onClose(s.Close)
			_ = s.Start() // fails only for a client redisclient never builds
		}
		return s, client, nil
	}
	return nil, nil, fmt.Errorf("store.type: unsupported %q", c.Type)
}

// pingRedis sends the one Ping at start. A Redis that does not answer
// does not stop the start: requests that need a session get 503 until it
// does, the rest are served. A TLS fault does (redisclient.Diagnose): it
// is a configuration error that waiting does not cure.
func (m *Main) pingRedis(ctx context.Context, client goredis.UniversalClient, c config.RedisConfig, useTLS bool) error {
	ctx, cancel := context.WithTimeout(ctx, redisPingTimeout)
	defer cancel()
	err := client.Ping(ctx).Err()
	if err == nil {
		return nil
	}
	fault, hint := redisclient.Diagnose(err, useTLS)
	if fault {
		return fmt.Errorf("store.redis.tls: the TLS handshake with Redis failed; check store.redis.tls.ca_file, "+
			"cert_file and server_name, and that the servers of store.redis.addrs speak TLS: %w", err)
	}
	ev := m.log.Error().Err(err).Strs("addrs", c.Addrs)
	if hint != "" {
		ev = ev.Str("hint", hint)
	}
	ev.Msg("redis is not answering yet; session requests get 503 until it does")
	return nil
}
