package metrics_test

import (
	"testing"
	"time"

	"github.com/sidecarproxy/sidecar/ops/metrics"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// BenchmarkRequest is what the Observer adds to each proxied request.
func BenchmarkRequest(b *testing.B) {
	m := metrics.New(metrics.Options{})
	info := proxy.RequestInfo{Status: 200, Upstream: "app1", Duration: 3 * time.Millisecond,
		UpstreamDuration: 2 * time.Millisecond, Session: sessions.OutcomeLoaded, HeaderBytes: 900}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.Request(info)
		}
	})
}

// BenchmarkStoreLoad compares a memory store's Load with and without the
// timing decorator: the difference is what each store operation pays.
func BenchmarkStoreLoad(b *testing.B) {
	mem := memory.New(memory.Options{})
	b.Cleanup(func() { _ = mem.Close() })
	now := time.Now().Truncate(time.Millisecond)
	if err := mem.Create(b.Context(), "k", &sessions.Record{Version: 1, Created: now,
		IdleExp: now.Add(time.Hour), AbsExp: now.Add(time.Hour)}); err != nil {
		b.Fatal(err)
	}
	for name, s := range map[string]sessions.Store{"bare": mem, "timed": metrics.New(metrics.Options{}).Store(mem)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			ctx := b.Context()
			for b.Loop() {
				if _, err := s.Load(ctx, "k", nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
