package redisstore_test

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
)

// A store on any go-redis client: one address for a standalone server,
// several for a cluster, MasterName for Sentinel.
func ExampleNew() {
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: []string{"127.0.0.1:6379"},
		// Let request deadlines bound every Redis call.
		ContextTimeoutEnabled: true,
	})
	defer client.Close()

	store := redisstore.New(client, redisstore.Options{Prefix: "myapp:"})

	// Optional: fail fast at startup if Redis is unreachable.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := store.LoadScripts(ctx); err != nil {
		panic(err)
	}
}
