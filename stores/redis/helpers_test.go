package redisstore_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
)

// backend is a Redis deployment the tests run against.
type backend struct {
	name  string
	start func(t *testing.T) redis.UniversalClient
}

// newStore returns a Store on client reading clock, under a prefix of its
// own so tests sharing a server never see each other's keys.
func newStore(t testing.TB, client redis.UniversalClient, clock *clocktest.Clock) *redisstore.Store {
	t.Helper()
	return redisstore.New(client, redisstore.Options{Prefix: "t" + randomHex(4) + ":", Clock: clock.Now})
}

// record returns a fresh Version 1 record created at the clock's now.
func record(clock *clocktest.Clock, principal string) *sessions.Record {
	now := clock.Now()
	return &sessions.Record{
		Attrs: map[string]json.RawMessage{
			"user": json.RawMessage(`{"id": 7}`),
			"cart": json.RawMessage(`[1, 2]`),
		},
		Principal: principal,
		Version:   1,
		Created:   now,
		IdleExp:   now.Add(30 * time.Minute),
		AbsExp:    now.Add(8 * time.Hour),
	}
}

// randomKey returns a key like the Manager's: 64 hex digits.
func randomKey() string { return randomHex(32) }

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func ptr(s string) *string { return &s }
