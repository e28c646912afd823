package redisstore_test

import (
	"context"
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
// its scripts loaded, and that session's key; with the cache on when
// cached (started and ready).
func benchStore(b *testing.B, cached ...bool) (*redisstore.Store, string) {
	b.Helper()
	client := redistest.Start(b).Client(b)
	var s *redisstore.Store
	if len(cached) > 0 && cached[0] {
		s = startCached(b, client, redisstore.Options{})
	} else {
		s = redisstore.New(client, redisstore.Options{})
		require.NoError(b, s.LoadScripts(b.Context()))
	}
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

// BenchmarkLoadCached is Load with the cache on: hit, a read the cache
// answers (no round trip); miss, one it does not (one HGETALL, judged in
// Go: sessions.FreshRead takes that path every time).
func BenchmarkLoadCached(b *testing.B) {
	for _, tt := range []struct {
		name string
		ctx  func(context.Context) context.Context
	}{
		{"hit", func(ctx context.Context) context.Context { return ctx }},
		{"miss", sessions.FreshRead},
	} {
		b.Run(tt.name, func(b *testing.B) {
			s, key := benchStore(b, true)
			ctx := tt.ctx(b.Context())
			if _, err := s.Load(ctx, key, nil); err != nil {
				b.Fatal(err)
			}
			before := s.CacheStats()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Load(ctx, key, nil); err != nil {
					b.Fatal(err)
				}
			}
			after := s.CacheStats()
			b.ReportMetric(float64(after.Hits-before.Hits)/float64(b.N), "hits/op")
		})
	}
}
