package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
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
// file: a bolt store is checked (its directory must exist and be a
// directory) and replaced by a memory store for the rest of the build,
// and a Redis client is built but never dialled.
func (m *Main) openStore(ctx context.Context, c config.StoreConfig, preflight bool) (sessions.Store, goredis.UniversalClient, error) {
	switch c.Type {
	case config.StoreMemory:
		s := memory.New(memory.Options{BeforeCommit: m.BeforeCommit})
		m.onClose(s.Close)
		return s, nil, nil
	case config.StoreBolt:
		if preflight {
			if err := checkBoltDir(c.Bolt.Path); err != nil {
				return nil, nil, err
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
		client := newRedisClient(c.Redis)
		m.onClose(client.Close)
		if !preflight {
			pingCtx, cancel := context.WithTimeout(ctx, redisPingTimeout)
			defer cancel()
			if err := client.Ping(pingCtx).Err(); err != nil {
				// Start anyway: requests that need a session get 503
				// until Redis answers, the rest are served.
				m.log.Error().Err(err).Strs("addrs", c.Redis.Addrs).Msg("redis is not answering yet; session requests get 503 until it does")
			}
		}
		return redisstore.New(client, redisstore.Options{Prefix: c.Redis.Prefix}), client, nil
	}
	return nil, nil, fmt.Errorf("store.type: unsupported %q", c.Type)
}

// checkBoltDir reports what would stop bolt from opening its file at
// path without opening it (a running Sidecar holds its lock): a directory
// that is missing or is not one, a path that is a directory, or, when the
// file does not exist yet, a directory this process may not write.
func checkBoltDir(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("store.bolt.path: directory %s does not exist", dir)
	case err != nil:
		return fmt.Errorf("store.bolt.path: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("store.bolt.path: %s is not a directory", dir)
	}
	fi, err = os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := syscall.Access(dir, wOK); err != nil {
			return fmt.Errorf("store.bolt.path: cannot create a file in %s: %w", dir, err)
		}
	case err != nil:
		return fmt.Errorf("store.bolt.path: %w", err)
	case fi.IsDir():
		return fmt.Errorf("store.bolt.path: %s is a directory", path)
	}
	return nil
}

// wOK is access(2)'s W_OK: may the caller write.
const wOK = 2

// newRedisClient returns a client for c: standalone for one address,
// cluster for several, sentinel when master_name is set. Request deadlines
// apply to socket I/O (ContextTimeoutEnabled), so a stalled Redis costs a
// request its store budget, not the client's read timeout.
func newRedisClient(c config.RedisConfig) goredis.UniversalClient {
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
