package proxy_test

import (
	"io"
	"net/http"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/stores/bolt"
)

// BenchmarkProxyBolt is BenchmarkProxy on the embedded default store,
// fsync on. The "/write32" case has 32 clients writing at once, the load
// under which bolt's writes share their fsyncs (see stores/bolt's group
// commit); the others have one client at a time, as BenchmarkProxy.
func BenchmarkProxyBolt(b *testing.B) {
	for _, path := range []string{"/read", "/write", "/write32"} {
		b.Run(path[1:], func(b *testing.B) {
			store, err := bolt.Open(filepath.Join(b.TempDir(), "sessions.db"), bolt.Options{SweepInterval: -1})
			require.NoError(b, err)
			b.Cleanup(func() { _ = store.Close() })
			base, cookie := benchSidecar(b, store, benchApp(b))
			if path != "/write32" {
				drive(b, benchClient(), base, path, cookie)
				return
			}
			driveParallel(b, 32, base, "/write", cookie)
		})
	}
}

// driveParallel is drive with clients goroutines sending b.N GETs between
// them.
func driveParallel(b *testing.B, clients int, base, path, cookie string) {
	b.Helper()
	c := benchClient()
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((clients + procs - 1) / procs) // goroutines per P
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			b.Error(err)
			return
		}
		req.Header.Set("Cookie", "sidecar_sid="+cookie)
		for pb.Next() {
			resp, err := c.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkProxyDirect is the client and the app of the benchmarks
// without a proxy between them: subtract its allocs/op from another
// case's to get what the proxy alone allocates per request.
func BenchmarkProxyDirect(b *testing.B) {
	app := benchApp(b)
	drive(b, benchClient(), app.String(), "/read", "")
}
