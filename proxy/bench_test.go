package proxy_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// The benchmarks put a real HTTP app and a real HTTP client around each
// proxy, all on loopback, so "bare" and "sidecar" differ only in the proxy.
// Compare ns/op and allocs/op of BenchmarkProxy/bare with the others.

var benchBody = []byte(`<html><body>` + string(make([]byte, 0)) + `hello from the app</body></html>`)

func benchApp(b *testing.B) *url.URL {
	b.Helper()
	var n int
	var mu sync.Mutex
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/write" {
			mu.Lock()
			n++
			v := n
			mu.Unlock()
			w.Header().Set("X-Sidecar-Patch", `{"counter":`+strconv.Itoa(v)+`}`)
		}
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write(benchBody)
	}))
	b.Cleanup(app.Close)
	u, err := url.Parse(app.URL)
	require.NoError(b, err)
	return u
}

func benchClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
}

// drive sends b.N GETs to base+path with the cookie and checks each is 200.
func drive(b *testing.B, c *http.Client, base, path, cookie string) {
	b.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	require.NoError(b, err)
	if cookie != "" {
		req.Header.Set("Cookie", "sidecar_sid="+cookie)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// benchSessions is the Manager and header signer of a benchmark's
// Sidecar on store, with the tests' secrets.
func benchSessions(b *testing.B, store sessions.Store) (*sessions.Manager, *sessions.HeaderSigner) {
	b.Helper()
	signer, err := sessions.NewSigner([][]byte{[]byte(cookieSecret)})
	require.NoError(b, err)
	m, err := sessions.NewManager(sessions.Options{Store: store, Signer: signer})
	require.NoError(b, err)
	hdr, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte(headerSecret)})
	require.NoError(b, err)
	return m, hdr
}

func benchSidecar(b *testing.B, store sessions.Store, app *url.URL, mods ...func(*proxy.Options)) (base, cookie string) {
	b.Helper()
	m, hdr := benchSessions(b, store)
	opts := proxy.Options{
		Upstreams: []proxy.Upstream{{Name: "app", URL: app}},
		Manager:   m, Header: hdr, Logger: zerolog.Nop(),
	}
	for _, mod := range mods {
		mod(&opts)
	}
	p, err := proxy.New(opts)
	require.NoError(b, err)
	srv := httptest.NewServer(p)
	b.Cleanup(srv.Close)

	// A session with a realistic handful of attributes.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/write", nil)
	resp, err := benchClient().Do(req)
	require.NoError(b, err)
	resp.Body.Close()
	for _, c := range resp.Cookies() {
		if c.Name == "sidecar_sid" {
			cookie = c.Value
		}
	}
	require.NotEmpty(b, cookie)
	return srv.URL, cookie
}

func BenchmarkProxy(b *testing.B) {
	b.Run("bare", func(b *testing.B) {
		app := benchApp(b)
		rp := &httputil.ReverseProxy{
			Rewrite:    func(pr *httputil.ProxyRequest) { pr.SetURL(app); pr.SetXForwarded() },
			Transport:  proxy.NewTransport(proxy.TransportOptions{}),
			BufferPool: bareBufferPool{&sync.Pool{New: func() any { return make([]byte, 32<<10) }}},
		}
		srv := httptest.NewServer(rp)
		b.Cleanup(srv.Close)
		drive(b, benchClient(), srv.URL, "/read", "")
	})
	for _, path := range []string{"/read", "/write"} {
		b.Run("memory"+path, func(b *testing.B) {
			store := memory.New(memory.Options{})
			b.Cleanup(func() { _ = store.Close() })
			base, cookie := benchSidecar(b, store, benchApp(b))
			drive(b, benchClient(), base, path, cookie)
		})
		b.Run("redis"+path, func(b *testing.B) {
			rs := redistest.Start(b)
			client := rs.Client(b)
			rt := redistest.CountRoundTrips(client)
			base, cookie := benchSidecar(b, redisstore.New(client, redisstore.Options{}), benchApp(b))
			rt.Reset()
			drive(b, benchClient(), base, path, cookie)
			b.ReportMetric(float64(rt.Count())/float64(b.N), "redis-rt/op")
		})
	}
}

// bareBufferPool is the same pooled copy buffer a tuned bare proxy uses.
type bareBufferPool struct{ p *sync.Pool }

func (b bareBufferPool) Get() []byte  { return b.p.Get().([]byte) }
func (b bareBufferPool) Put(v []byte) { b.p.Put(v) } //nolint:staticcheck // a fair copy of common practice
