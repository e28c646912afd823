package proxy_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/applog"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/stores/bolt"
	"github.com/sidecarproxy/sidecar/stores/memory"
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

// BenchmarkProxyAccessLog is memory/read with the program's logger
// (internal/applog) writing to a file, as `sidecar serve` runs it: the
// JSON access log at info, the same with log.level warn (no access line),
// and log.access off.
func BenchmarkProxyAccessLog(b *testing.B) {
	for _, tc := range []struct {
		name   string
		level  zerolog.Level
		format proxy.AccessLogFormat
	}{
		{"json-info", zerolog.InfoLevel, proxy.AccessJSON},
		{"json-warn", zerolog.WarnLevel, proxy.AccessJSON},
		{"off", zerolog.InfoLevel, proxy.AccessOff},
	} {
		b.Run(tc.name, func(b *testing.B) {
			devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			require.NoError(b, err)
			log, level := applog.New(devnull, applog.Options{Level: tc.level})
			b.Cleanup(func() {
				if c, ok := any(level).(io.Closer); ok { // flushes the log's Buffer
					_ = c.Close()
				}
				_ = devnull.Close()
			})
			store := memory.New(memory.Options{})
			b.Cleanup(func() { _ = store.Close() })
			base, cookie := benchSidecar(b, store, benchApp(b), func(o *proxy.Options) {
				o.Logger = log.With().Str("log", "access").Logger()
				o.AccessLog = proxy.AccessLog{Format: tc.format}
			})
			drive(b, benchClient(), base, "/read", cookie)
		})
	}
}
