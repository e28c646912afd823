package lock_test

import (
	"testing"

	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

func TestRedis(t *testing.T) {
	t.Parallel()
	cs := []lock.Client{redistest.Start(t).Client(t)}
	runConformance(t, redisImpl("Redis", func(*testing.T) []lock.Client { return cs }))
}

func TestRedisCluster(t *testing.T) {
	t.Parallel()
	cs := []lock.Client{redistest.StartCluster(t, 3).Client(t)}
	runConformance(t, redisImpl("Cluster", func(*testing.T) []lock.Client { return cs }))
}

func TestRedlock(t *testing.T) {
	t.Parallel()
	var cs []lock.Client
	for range 3 {
		cs = append(cs, redistest.Start(t).Client(t))
	}
	runConformance(t, redisImpl("Redlock", func(*testing.T) []lock.Client { return cs }))
}
