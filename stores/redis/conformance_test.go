package redisstore_test

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/sessions"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
	"github.com/sidecarproxy/sidecar/stores/storetest"
)

// conformance runs the storetest suite against stores sharing client.
func conformance(t *testing.T, client redis.UniversalClient) {
	storetest.Run(t, func(t *testing.T, clock func() time.Time) sessions.Store {
		return redisstore.New(client, redisstore.Options{Clock: clock})
	})
}
