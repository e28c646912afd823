package server

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/sessions"
	boltstore "github.com/sidecarproxy/sidecar/stores/bolt"
	"github.com/sidecarproxy/sidecar/stores/memory"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
)

// openStore builds the configured store and returns it with its closer,
// and the Redis client when it is on Redis (locks use it too).
func openStore(ctx context.Context, c config.StoreConfig, log zerolog.Logger) (sessions.Store, func() error, goredis.UniversalClient, error) {
	switch c.Type {
	case config.StoreMemory:
		s := memory.New(memory.Options{})
		return s, s.Close, nil, nil
	case config.StoreBolt:
		s, err := boltstore.Open(c.Bolt.Path, boltstore.Options{
			SweepInterval: c.Bolt.SweepInterval,
			NoSync:        c.Bolt.NoSync,
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("store.bolt.path: %w", err)
		}
		return s, s.Close, nil, nil
	case config.StoreRedis:
		client := NewRedisClient(c.Redis)
		pingCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := client.Ping(pingCtx).Err(); err != nil {
			// Start anyway: requests that need a session get 503 until
			// Redis answers, the rest are served.
			log.Error().Err(err).Strs("addrs", c.Redis.Addrs).Msg("redis is not answering yet; session requests get 503 until it does")
		}
		return redisstore.New(client, redisstore.Options{Prefix: c.Redis.Prefix}), client.Close, client, nil
	}
	return nil, nil, nil, fmt.Errorf("store.type: unsupported %q", c.Type)
}

// NewRedisClient returns a client for c: standalone for one address,
// cluster for several, sentinel when master_name is set. Request deadlines
// apply to socket I/O (ContextTimeoutEnabled), so a stalled Redis costs a
// request its store budget, not the client's read timeout.
func NewRedisClient(c config.RedisConfig) goredis.UniversalClient {
	return goredis.NewUniversalClient(&goredis.UniversalOptions{
		Addrs:                 c.Addrs,
		MasterName:            c.MasterName,
		Username:              c.Username,
		Password:              string(c.Password),
		DB:                    c.DB,
		PoolSize:              c.PoolSize,
		ContextTimeoutEnabled: true,
	})
}
