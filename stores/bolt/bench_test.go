package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
)

// benchRecord is a modest session: a user id, a few flags and a small cart,
// about 200 bytes of attributes.
func benchRecord(now time.Time) *sessions.Record {
	return &sessions.Record{
		Attrs: map[string]json.RawMessage{
			"user":   json.RawMessage(`{"id":42,"name":"Ada Lovelace","roles":["admin","dev"]}`),
			"cart":   json.RawMessage(`[{"sku":"A-1","qty":2},{"sku":"B-22","qty":1}]`),
			"theme":  json.RawMessage(`"dark"`),
			"locale": json.RawMessage(`"en-GB"`),
			"csrf":   json.RawMessage(`"8f14e45fceea167a5a36dedd4bea2543"`),
		},
		Principal: "user:42",
		Version:   1,
		Created:   now,
		IdleExp:   now.Add(time.Hour),
		AbsExp:    now.Add(24 * time.Hour),
	}
}

// benchStore opens a store holding "k" and 1,000 other sessions.
func benchStore(b *testing.B, noSync bool) (*Store, *clocktest.Clock) {
	b.Helper()
	clock := clocktest.New()
	s, _ := openTest(b, Options{Clock: clock.Now, NoSync: true})
	ctx := context.Background()
	for i := range 1000 {
		if err := s.Create(ctx, fmt.Sprint("other", i), benchRecord(clock.Now())); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Create(ctx, "k", benchRecord(clock.Now())); err != nil {
		b.Fatal(err)
	}
	s.db.NoSync = noSync
	return s, clock
}

func BenchmarkLoad(b *testing.B) {
	s, _ := benchStore(b, false)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Load(ctx, "k", nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLoadTouch(b *testing.B) {
	b.Run("NotDue", func(b *testing.B) {
		s, clock := benchStore(b, false)
		ctx := context.Background()
		touch := &sessions.Touch{Before: clock.Now(), IdleExp: clock.Now().Add(2 * time.Hour)}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := s.Load(ctx, "k", touch); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, noSync := range []bool{false, true} {
		b.Run("Due/"+syncName(noSync), func(b *testing.B) {
			s, clock := benchStore(b, noSync)
			ctx := context.Background()
			// Every iteration is due: Before is past every IdleExp written.
			idle := clock.Now().Add(time.Hour)
			touch := &sessions.Touch{Before: clock.Now().Add(20 * time.Hour)}
			b.ReportAllocs()
			for b.Loop() {
				idle = idle.Add(time.Millisecond)
				touch.IdleExp = idle
				if _, err := s.Load(ctx, "k", touch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkApply(b *testing.B) {
	for _, noSync := range []bool{false, true} {
		b.Run(syncName(noSync), func(b *testing.B) {
			s, _ := benchStore(b, noSync)
			ctx := context.Background()
			d := &sessions.Delta{
				Set:      map[string]json.RawMessage{"theme": json.RawMessage(`"light"`)},
				MaxBytes: 4096,
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Apply(ctx, "k", d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkApplyParallel is BenchmarkApply with 32 writers at once, each
// on its own session, fsync on: the load under which writes share their
// commits. writes/fsync is how many each commit carried on average.
func BenchmarkApplyParallel(b *testing.B) {
	s, _ := benchStore(b, false)
	ctx := context.Background()
	const writers = 32
	for i := range writers {
		if err := s.Create(ctx, fmt.Sprint("w", i), benchRecord(time.Now())); err != nil {
			b.Fatal(err)
		}
	}
	d := &sessions.Delta{
		Set:      map[string]json.RawMessage{"theme": json.RawMessage(`"light"`)},
		MaxBytes: 4096,
	}
	var next atomic.Int64
	txid := lastTxID(b, s)
	b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		key := fmt.Sprint("w", next.Add(1)%writers)
		for pb.Next() {
			if _, err := s.Apply(ctx, key, d); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/float64(lastTxID(b, s)-txid), "writes/fsync")
}

func syncName(noSync bool) string {
	if noSync {
		return "NoSync"
	}
	return "Fsync"
}
