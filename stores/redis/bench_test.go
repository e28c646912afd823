package redisstore_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// benchStore returns a store on a fresh server holding one session, with
// its scripts loaded, and that session's key.
func benchStore(b *testing.B) (*redisstore.Store, string) {
	b.Helper()
	client := redistest.Start(b).Client(b)
	s := redisstore.New(client, redisstore.Options{})
	require.NoError(b, s.LoadScripts(b.Context()))
	key := randomKey()
	clock := clocktest.New()
	rec := record(clock, "bench")
	rec.Attrs["profile"] = json.RawMessage(`{"name":"Jörg","roles":["admin","dev"],"theme":"dark","tz":"Europe/Berlin"}`)
	require.NoError(b, s.Create(b.Context(), key, rec))
	return s, key
}

func BenchmarkLoad(b *testing.B) {
	s, key := benchStore(b)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(ctx, key, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadTouch(b *testing.B) {
	s, key := benchStore(b)
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		// Before is far ahead, so every call slides the idle expiry.
		idle := time.Now().Add(30 * time.Minute)
		touch := &sessions.Touch{Before: idle.Add(time.Hour), IdleExp: idle}
		if _, err := s.Load(ctx, key, touch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkApply(b *testing.B) {
	s, key := benchStore(b)
	ctx := b.Context()
	d := &sessions.Delta{
		Set:      map[string]json.RawMessage{"csrf": json.RawMessage(`"0123456789abcdef"`)},
		Delete:   []string{"flash"},
		MaxBytes: 8192,
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Apply(ctx, key, d); err != nil {
			b.Fatal(err)
		}
	}
}
