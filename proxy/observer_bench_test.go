package proxy_test

import (
	"testing"

	"github.com/sidecarproxy/sidecar/ops/metrics"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// BenchmarkProxyMetrics is BenchmarkProxy's memory runs with the
// Prometheus metrics on (the Observer and the timed store), as
// ops.listen wires them: compare its ns/op with BenchmarkProxy/memory.
func BenchmarkProxyMetrics(b *testing.B) {
	for _, path := range []string{"/read", "/write"} {
		b.Run("memory"+path, func(b *testing.B) {
			store := memory.New(memory.Options{})
			b.Cleanup(func() { _ = store.Close() })
			m := metrics.New(metrics.Options{})
			base, cookie := benchSidecar(b, m.Store(store), benchApp(b), func(o *proxy.Options) { o.Observer = m })
			drive(b, benchClient(), base, path, cookie)
		})
	}
}
