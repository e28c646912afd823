package redisstore_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// v1 are the scripts of format 1 (the Sidecar release before record
// formats and tombstones), committed under testdata/v1: what the old
// instances of a fleet in the middle of an upgrade run.
type v1 struct {
	load, create, apply, take *redis.Script
}

// testdataScript reads the script name of an older build, kept under
// testdata/version.
func testdataScript(t *testing.T, version, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", version, name))
	require.NoError(t, err)
	return string(b)
}

func loadV1(t *testing.T) v1 {
	t.Helper()
	read := func(name string) string { return testdataScript(t, "v1", name) }
	lib := read("lib.lua")
	return v1{
		load:   redis.NewScript(lib + read("load.lua")),
		create: redis.NewScript(lib + read("create.lua")),
		apply:  redis.NewScript(lib + read("apply.lua")),
		take:   redis.NewScript(lib + read("take.lua")),
	}
}

// TestMixedFleet runs format 1 scripts and this build's store on the same
// records: old and new Sidecars sharing one Redis during an upgrade.
func TestMixedFleet(t *testing.T) {
	t.Parallel()
	client := redistest.Start(t).Client(t)
	old := loadV1(t)
	ctx := t.Context()
	clock := clocktest.New()
	s := newStore(t, client, clock)
	now := func() int64 { return clock.Now().UnixMilli() }

	t.Run("OldReadsAndWritesNewRecord", func(t *testing.T) {
		key := randomKey()
		rec := record(clock, "alice")
		require.NoError(t, s.Create(ctx, key, rec))
		fields, err := old.load.Run(ctx, client, []string{sessionKeyOf(s, key)}, now(), 0, 0, 0).StringSlice()
		require.NoError(t, err, "format 1 load.lua on a format 2 record")
		got := pairs(fields)
		assert.Equal(t, "1", got["version"])
		assert.Equal(t, `{"id": 7}`, got["a:user"])
		// Old apply.lua: now, base, max, idle, set principal, principal, n, bound, pairs.
		res, err := old.apply.Run(ctx, client, []string{sessionKeyOf(s, key)},
			now(), 0, 0, 0, 0, "", 1, 0, "paid", "true").Int64Slice()
		require.NoError(t, err)
		assert.EqualValues(t, 0, res[0], "format 1 apply.lua on a format 2 record")
		loaded, err := s.Load(ctx, key, nil)
		require.NoError(t, err)
		assert.EqualValues(t, 2, loaded.Version)
		assert.Equal(t, json.RawMessage(`true`), loaded.Attrs["paid"])
	})

	t.Run("OldSeesTombstoneAsAbsent", func(t *testing.T) {
		key, newKey := randomKey(), randomKey()
		require.NoError(t, s.Create(ctx, key, record(clock, "alice")))
		_, err := s.Regenerate(ctx, key, newKey, &sessions.Delta{Tombstone: time.Minute})
		require.NoError(t, err)
		_, err = s.Load(ctx, key, nil)
		require.ErrorIs(t, err, sessions.ErrReplaced)

		err = old.load.Run(ctx, client, []string{sessionKeyOf(s, key)}, now(), 0, 0, 0).Err()
		assert.ErrorIs(t, err, redis.Nil, "format 1 load.lua must see a tombstone as no session")
		res, err := old.apply.Run(ctx, client, []string{sessionKeyOf(s, key)},
			now(), 0, 0, 0, 0, "", 1, 0, "late", "1").Int64Slice()
		require.NoError(t, err)
		assert.Equal(t, []int64{1}, res, "format 1 apply.lua on a tombstone: NOT_FOUND")
		res2, err := old.take.Run(ctx, client, []string{sessionKeyOf(s, key)},
			now(), 0, 0, 0, 0, "", 0, 0).Slice()
		require.NoError(t, err)
		assert.Equal(t, []any{int64(1)}, res2, "format 1 take.lua on a tombstone: NOT_FOUND")
		_, err = s.Load(ctx, key, nil)
		assert.ErrorIs(t, err, sessions.ErrReplaced, "the old scripts wrote nothing to the tombstone")
	})

	t.Run("NewReadsAndWritesOldRecord", func(t *testing.T) {
		key := randomKey()
		rec := record(clock, "bob")
		// Old create.lua: now, version, created, idle, abs, principal, size, pairs.
		code, err := old.create.Run(ctx, client, []string{sessionKeyOf(s, key)},
			now(), 1, rec.Created.UnixMilli(), rec.IdleExp.UnixMilli(), rec.AbsExp.UnixMilli(),
			rec.Principal, rec.Size(), "user", []byte(rec.Attrs["user"]), "cart", []byte(rec.Attrs["cart"])).Int64()
		require.NoError(t, err)
		require.EqualValues(t, 0, code)
		fields, err := client.HGetAll(ctx, sessionKeyOf(s, key)).Result()
		require.NoError(t, err)
		require.NotContains(t, fields, "fmt", "a format 1 record has no fmt field")

		got, err := s.Load(ctx, key, nil)
		require.NoError(t, err)
		assert.Equal(t, rec.Attrs, got.Attrs)
		v, err := s.Apply(ctx, key, &sessions.Delta{Set: map[string]json.RawMessage{"x": json.RawMessage(`1`)}, MaxBytes: 1000})
		require.NoError(t, err)
		assert.EqualValues(t, 2, v)
		newKey := randomKey()
		moved, err := s.Regenerate(ctx, key, newKey, &sessions.Delta{})
		require.NoError(t, err)
		assert.EqualValues(t, 3, moved.Version)
		assert.Equal(t, json.RawMessage(`1`), moved.Attrs["x"])
	})

	t.Run("NewerFormatRefused", func(t *testing.T) {
		key := randomKey()
		require.NoError(t, s.Create(ctx, key, record(clock, "")))
		require.NoError(t, client.HSet(ctx, sessionKeyOf(s, key), "fmt", "3").Err())
		_, err := s.Load(ctx, key, nil)
		assert.Error(t, err)
		assert.NotErrorIs(t, err, sessions.ErrNotFound)
		_, err = s.Apply(ctx, key, &sessions.Delta{Set: map[string]json.RawMessage{"x": json.RawMessage(`1`)}})
		assert.Error(t, err)
		assert.NotErrorIs(t, err, sessions.ErrNotFound)
	})
}

// pairs turns a flat field/value list into a map.
func pairs(flat []string) map[string]string {
	m := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		m[flat[i]] = flat[i+1]
	}
	return m
}

// TestMixedFleetApplyDuringRegenerate pins what a review found: during an
// upgrade, a format 1 Sidecar's Apply (whose script knows nothing of
// seals) landed between a format 2 Regenerate's seal and its commit, was
// acknowledged, and was then lost with the old key, since the copy was
// made from what the seal had read. The commit now checks the version the
// seal read; finding it moved, it lifts the seal and Regenerate starts
// over, so the new session holds the write.
func TestMixedFleetApplyDuringRegenerate(t *testing.T) {
	client := redistest.Start(t).Client(t)
	old := loadV1(t)
	clock := clocktest.New()
	key, newKey := randomKey(), randomKey()
	var s *redisstore.Store
	var v1res []int64
	armed := false
	s = redisstore.New(client, redisstore.Options{Prefix: "r:", Clock: clock.Now,
		BeforeCommit: func(context.Context) {
			if !armed || v1res != nil {
				return
			}
			var err error
			v1res, err = old.apply.Run(context.Background(), client, []string{sessionKeyOf(s, key)},
				clock.Now().UnixMilli(), 0, 0, 0, 0, "", 1, 0, "paid", "true").Int64Slice()
			require.NoError(t, err)
		}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, s.Create(ctx, key, record(clock, "")))
	armed = true
	rec, err := s.Regenerate(ctx, key, newKey, &sessions.Delta{Tombstone: time.Minute})
	require.NoError(t, err)
	require.EqualValues(t, 0, v1res[0], "the format 1 Apply was acknowledged")
	got, err := s.Load(ctx, newKey, nil)
	require.NoError(t, err)
	assert.Equal(t, json.RawMessage(`true`), got.Attrs["paid"], "the acknowledged write is in the regenerated session")
	assert.Equal(t, int64(3), rec.Version, "created 1, the format 1 write 2, the regenerate 3")
	_, err = s.Load(ctx, key, nil)
	assert.ErrorIs(t, err, sessions.ErrReplaced, "the old key is a tombstone")
}

// TestMixedFleetRegistry runs the format 2 scripts of the build before
// the session details and the registry (testdata/v2) and this build's
// store on the same records: each keeps the other's records working, a
// record the old build created shows no details, and it is counted once
// a request of this build has touched it.
func TestMixedFleetRegistry(t *testing.T) {
	t.Parallel()
	client := redistest.Start(t).Client(t)
	read := func(name string) string { return testdataScript(t, "v2", name) }
	lib := read("lib.lua")
	oldCreate, oldLoad, oldApply := redis.NewScript(lib+read("create.lua")), redis.NewScript(lib+read("load.lua")),
		redis.NewScript(lib+read("apply.lua"))
	ctx := t.Context()
	clock := clocktest.New()
	s := newStore(t, client, clock)
	now := func() int64 { return clock.Now().UnixMilli() }

	t.Run("OldRecordGetsCountedOnceTouched", func(t *testing.T) {
		key := randomKey()
		rec := record(clock, "bob")
		// Old create.lua: now, version, created, idle, abs, principal, size, limit, pairs.
		code, err := oldCreate.Run(ctx, client, []string{sessionKeyOf(s, key)},
			now(), 1, rec.Created.UnixMilli(), rec.IdleExp.UnixMilli(), rec.AbsExp.UnixMilli(),
			rec.Principal, rec.Size(), 0, "user", []byte(rec.Attrs["user"])).Int64()
		require.NoError(t, err)
		require.EqualValues(t, 0, code)
		got, err := s.Load(ctx, key, nil)
		require.NoError(t, err)
		assert.Empty(t, got.Handle+got.ClientIP+got.UserAgent, "an old record has no details")
		c, err := s.Count(ctx)
		require.NoError(t, err)
		assert.Zero(t, c.Live, "the old build registers nothing")

		clock.Advance(5 * time.Minute)
		idle := clock.Now().Add(30 * time.Minute)
		_, err = s.Load(ctx, key, &sessions.Touch{Before: idle, IdleExp: idle})
		require.NoError(t, err)
		c, err = s.Count(ctx)
		require.NoError(t, err)
		assert.EqualValues(t, 1, c.Live, "counted once this build touched it")
	})

	t.Run("OldReadsAndWritesNewRecord", func(t *testing.T) {
		key := randomKey()
		rec := record(clock, "carol")
		rec.Handle, rec.ClientIP, rec.UserAgent = randomHex(16), "192.0.2.9", "Firefox"
		require.NoError(t, s.Create(ctx, key, rec))
		fields, err := oldLoad.Run(ctx, client, []string{sessionKeyOf(s, key)}, now(), 0, 0, 0).StringSlice()
		require.NoError(t, err, "the old load.lua on a record with details")
		assert.Equal(t, `{"id": 7}`, pairs(fields)["a:user"])
		// Old apply.lua: now, base, max, idle, set principal, principal, n, bound, limit, pairs.
		res, err := oldApply.Run(ctx, client, []string{sessionKeyOf(s, key)},
			now(), 0, 0, clock.Now().Add(time.Hour).UnixMilli(), 0, "", 1, 0, 0, "paid", "true").Int64Slice()
		require.NoError(t, err)
		assert.EqualValues(t, 0, res[0], "the old apply.lua on a record with details")
		got, err := s.Load(ctx, key, nil)
		require.NoError(t, err)
		assert.Equal(t, json.RawMessage(`true`), got.Attrs["paid"])
		assert.Equal(t, []string{rec.Handle, "192.0.2.9", "Firefox"}, []string{got.Handle, got.ClientIP, got.UserAgent})
		found, err := s.ByHandle(ctx, rec.Handle)
		require.NoError(t, err)
		assert.Equal(t, key, found)
	})
}
