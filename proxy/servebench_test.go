package proxy_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/applog"
	"github.com/sidecarproxy/sidecar/ops/metrics"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// BenchmarkServeHTTP is the proxy's own work per request, without the
// network: ServeHTTP called directly, the app a RoundTripper answering
// from memory, the client a ResponseWriter that discards. The bare case
// is a tuned httputil.ReverseProxy over the same RoundTripper; the
// difference in ns/op and allocs/op is what sessions cost in CPU, which
// the load runs of bench/run.sh see diluted by syscalls, the app and wrk.
func BenchmarkServeHTTP(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		app, _ := url.Parse("http://127.0.0.1:1")
		rp := &httputil.ReverseProxy{
			Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(app); pr.SetXForwarded() },
			Transport:  memoryApp{},
			BufferPool: proxy.NewBufferPool(),
		}
		serveLoop(b, rp, "/read", "")
	})
	for _, served := range []bool{false, true} {
		for _, tc := range []struct{ name, path string }{{"anon", "/read"}, {"read", "/read"}, {"write", "/write"}} {
			name := tc.name
			if served {
				name += "-served"
			}
			b.Run(name, func(b *testing.B) {
				mem := memory.New(memory.Options{})
				b.Cleanup(func() { _ = mem.Close() })
				var store sessions.Store = mem
				var mods []func(*proxy.Options)
				if served {
					// As `sidecar serve` runs with ops.listen: the JSON
					// access log at info to a file, the metrics on.
					devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
					require.NoError(b, err)
					log, level := applog.New(devnull, applog.Options{Level: zerolog.InfoLevel})
					b.Cleanup(func() { _ = level.Close(); _ = devnull.Close() })
					m := metrics.New(metrics.Options{})
					store = m.Store(store)
					mods = append(mods, func(o *proxy.Options) { o.Logger, o.Observer = log, m })
				}
				p, cookie := inProcessSidecar(b, store, mods...)
				if tc.name == "anon" {
					cookie = ""
				}
				serveLoop(b, p, tc.path, cookie)
			})
		}
	}
}

// memoryApp is an app that answers every request from memory, with a
// ~1 KiB page and, on /write, a one-attribute patch.
type memoryApp struct{ counter *atomic.Int64 }

var memoryPage = bytes.Repeat([]byte("<p>a line of a page about the size of a fragment.</p>\n"), 19)

func (a memoryApp) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_ = r.Body.Close()
	}
	h := http.Header{"Content-Type": {"text/html; charset=utf-8"}, "Content-Length": {strconv.Itoa(len(memoryPage))}}
	if r.URL.Path == "/write" && a.counter != nil {
		h["X-Sidecar-Patch"] = []string{`{"counter":` + strconv.FormatInt(a.counter.Add(1), 10) + `}`}
	}
	return &http.Response{
		StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, ContentLength: int64(len(memoryPage)),
		Body: io.NopCloser(bytes.NewReader(memoryPage)), Request: r,
	}, nil
}

func inProcessSidecar(b *testing.B, store sessions.Store, mods ...func(*proxy.Options)) (*proxy.Proxy, string) {
	b.Helper()
	m, hdr := benchSessions(b, store)
	app, _ := url.Parse("http://127.0.0.1:1")
	opts := proxy.Options{
		Upstreams: []proxy.Upstream{{Name: "app", URL: app}},
		Transport: memoryApp{counter: new(atomic.Int64)},
		Manager:   m, Header: hdr, Logger: zerolog.Nop(),
	}
	for _, mod := range mods {
		mod(&opts)
	}
	p, err := proxy.New(opts)
	require.NoError(b, err)
	b.Cleanup(func() { _ = p.Close() })
	w := httptest.NewRecorder()
	p.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "http://example.test/write", nil))
	require.Equal(b, http.StatusOK, w.Code)
	for _, c := range w.Result().Cookies() {
		if c.Name == "sidecar_sid" {
			return p, c.Value
		}
	}
	b.Fatal("no session cookie")
	return nil, ""
}

// discardWriter is a ResponseWriter that keeps the status and drops the
// body, its header map cleared for each request.
type discardWriter struct {
	h      http.Header
	status int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(code int)        { d.status = code }

func serveLoop(b *testing.B, h http.Handler, path, cookie string) {
	b.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://example.test"+path, nil)
	req.RemoteAddr = "192.0.2.10:40000"
	req.Header.Set("User-Agent", "bench/1")
	req.Header.Set("Accept", "*/*")
	if cookie != "" {
		req.Header.Set("Cookie", "sidecar_sid="+cookie)
	}
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		r := req.Clone(req.Context())
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}
