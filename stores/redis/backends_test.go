package redisstore_test

import (
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

func TestStandalone(t *testing.T) {
	t.Parallel()
	srv := redistest.Start(t)
	client := srv.Client(t)
	targeted(t, client)
	t.Run("Conformance", func(t *testing.T) { conformance(t, client) })
	t.Run("ConformanceCached", func(t *testing.T) { conformanceCached(t, client) })
	t.Run("Cache", func(t *testing.T) { testCache(t, srv.Client, []*redistest.Server{srv}) })
	t.Run("Deadlines", func(t *testing.T) { deadlines(t, client, []*redistest.Server{srv}) })
}

func TestCluster(t *testing.T) {
	t.Parallel()
	cl := redistest.StartCluster(t, 3)
	client := cl.Client(t)
	targeted(t, client)
	t.Run("RegenerateAcrossSlots", func(t *testing.T) { testRegenerateAcrossSlots(t, client) })
	t.Run("Conformance", func(t *testing.T) { conformance(t, client) })
	t.Run("ConformanceCached", func(t *testing.T) { conformanceCached(t, client) })
	t.Run("Cache", func(t *testing.T) { testCache(t, cl.Client, cl.Nodes()) })
	t.Run("Deadlines", func(t *testing.T) { deadlines(t, client, cl.Nodes()) })
}

func TestSentinel(t *testing.T) {
	t.Parallel()
	s := redistest.StartSentinel(t)
	client := s.Client(t)
	targeted(t, client)
	t.Run("Conformance", func(t *testing.T) { conformance(t, client) })
	t.Run("ConformanceCached", func(t *testing.T) { conformanceCached(t, client) })
	t.Run("Cache", func(t *testing.T) { testCache(t, s.Client, []*redistest.Server{s.Master()}) })
	t.Run("Deadlines", func(t *testing.T) { deadlines(t, client, []*redistest.Server{s.Master()}) })
}

// Regression test for the CROSSSLOT bug Spring Session and Redisson
// shipped: Regenerate with RENAME fails when the two keys hash to slots on
// different cluster nodes.
func testRegenerateAcrossSlots(t *testing.T, client redis.UniversalClient) {
	ctx := t.Context()
	clock := clocktest.New()
	s := newStore(t, client, clock)
	node := func(key string) int64 {
		slot, err := client.ClusterKeySlot(ctx, s.Prefix()+"s:"+key).Result()
		require.NoError(t, err)
		return slot * 3 / 16384 // StartCluster splits the slots evenly
	}
	oldKey := randomKey()
	newKey := randomKey()
	for node(newKey) == node(oldKey) {
		newKey = randomKey()
	}
	rec := record(clock, "p")
	require.NoError(t, s.Create(ctx, oldKey, rec))
	got, err := s.Regenerate(ctx, oldKey, newKey, &sessions.Delta{Principal: ptr("q")})
	require.NoError(t, err)
	assert.Equal(t, rec.Version+1, got.Version)
	loaded, err := s.Load(ctx, newKey, nil)
	require.NoError(t, err)
	assert.Equal(t, got.Attrs, loaded.Attrs)
	_, err = s.Load(ctx, oldKey, nil)
	assert.ErrorIs(t, err, sessions.ErrNotFound)
	keys, err := s.ByPrincipal(ctx, "q")
	require.NoError(t, err)
	assert.Equal(t, []string{newKey}, keys)
}
