package proxy_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// upstreamApp is a real server whose behaviour a test picks per request.
type upstreamApp struct {
	*httptest.Server
	hits   atomic.Int64
	bodies chan string
}

func newUpstreamApp(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) *upstreamApp {
	t.Helper()
	a := &upstreamApp{bodies: make(chan string, 16)}
	a.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		a.bodies <- string(b)
		h(w, r)
	}))
	t.Cleanup(a.Close)
	return a
}

func okHandler(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }

// dieBeforeHeaders closes the connection without a response.
func dieBeforeHeaders(w http.ResponseWriter, _ *http.Request) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err == nil {
		_ = c.Close()
	}
}

// deadURL is an address where nothing listens.
func deadURL(t *testing.T) *url.URL {
	s := httptest.NewServer(http.NotFoundHandler())
	u, err := url.Parse(s.URL)
	require.NoError(t, err)
	s.Close()
	return u
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u
}

func poolProxy(t *testing.T, retry proxy.RetryOptions, ups ...proxy.Upstream) (*httptest.Server, *proxy.Pool) {
	t.Helper()
	return poolProxyWith(t, proxy.PoolOptions{Upstreams: ups, Retry: retry})
}

// poolProxyWith is a proxy over a pool built from opts.
func poolProxyWith(t *testing.T, opts proxy.PoolOptions) (*httptest.Server, *proxy.Pool) {
	t.Helper()
	signer, err := sessions.NewSigner([][]byte{[]byte(cookieSecret)})
	require.NoError(t, err)
	store := memory.New(memory.Options{})
	t.Cleanup(func() { _ = store.Close() })
	m, err := sessions.NewManager(sessions.Options{Store: store, Signer: signer})
	require.NoError(t, err)
	hdr, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte(headerSecret)})
	require.NoError(t, err)
	pool, err := proxy.NewPool(opts, nil, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	p, err := proxy.New(proxy.Options{Pool: pool, Manager: m, Header: hdr, Logger: zerolog.Nop()})
	require.NoError(t, err)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv, pool
}

func send(t *testing.T, method, u, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	require.NoError(t, err)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRetryRefusedAnyMethod(t *testing.T) {
	for name, tc := range map[string]struct {
		buffer int64
		body   string
	}{
		"buffered body": {0, "amount=10"},
		"streamed body": {4, strings.Repeat("x", 64<<10)},
	} {
		t.Run(name, func(t *testing.T) {
			live := newUpstreamApp(t, okHandler)
			srv, _ := poolProxy(t, proxy.RetryOptions{BufferBytes: tc.buffer},
				proxy.Upstream{Name: "dead", URL: deadURL(t)}, proxy.Upstream{Name: "live", URL: mustURL(t, live.URL)})
			for range 4 { // round robin puts every other first try on the dead one
				resp, body := send(t, http.MethodPost, srv.URL+"/pay", tc.body)
				require.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, "ok", body)
				assert.Equal(t, tc.body, <-live.bodies, "the body arrives whole on the retry")
			}
			assert.Equal(t, int64(4), live.hits.Load())
		})
	}
}

func TestRetryDiedBeforeHeaders(t *testing.T) {
	t.Run("idempotent is retried", func(t *testing.T) {
		dying := newUpstreamApp(t, dieBeforeHeaders)
		live := newUpstreamApp(t, okHandler)
		srv, _ := poolProxy(t, proxy.RetryOptions{},
			proxy.Upstream{Name: "dying", URL: mustURL(t, dying.URL)}, proxy.Upstream{Name: "live", URL: mustURL(t, live.URL)})
		for _, tc := range []struct{ method, key string }{{"GET", ""}, {"HEAD", ""}, {"OPTIONS", ""}, {"POST", "order-17"}} {
			dying.hits.Store(0)
			live.hits.Store(0)
			for range 2 {
				resp, _ := send(t, tc.method, srv.URL+"/", "", "Idempotency-Key", tc.key)
				assert.Equal(t, http.StatusOK, resp.StatusCode, tc.method)
			}
			assert.Positive(t, dying.hits.Load(), tc.method)
			assert.Equal(t, int64(2), live.hits.Load(), "%s: every request ended on the live upstream", tc.method)
		}
	})
	t.Run("non-idempotent is not", func(t *testing.T) {
		dying := newUpstreamApp(t, dieBeforeHeaders)
		srv, _ := poolProxy(t, proxy.RetryOptions{}, proxy.Upstream{Name: "dying", URL: mustURL(t, dying.URL)},
			proxy.Upstream{Name: "live", URL: mustURL(t, newUpstreamApp(t, okHandler).URL)})
		resp, _ := send(t, http.MethodPost, srv.URL+"/pay", "amount=10")
		assert.Equal(t, http.StatusBadGateway, resp.StatusCode, "the app may have acted on it: never replay")
		assert.Equal(t, int64(1), dying.hits.Load())
	})
}

func TestNoRetryOnceResponding(t *testing.T) {
	partial := newUpstreamApp(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "partial")
		http.NewResponseController(w).Flush()
		dieBeforeHeaders(w, r)
	})
	other := newUpstreamApp(t, okHandler)
	srv, _ := poolProxy(t, proxy.RetryOptions{},
		proxy.Upstream{Name: "partial", URL: mustURL(t, partial.URL)}, proxy.Upstream{Name: "other", URL: mustURL(t, other.URL)})
	req, err := http.NewRequest(http.MethodGet, srv.URL+"/", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	if err == nil { // the headers may or may not have been flushed before the abort
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	assert.Error(t, err, "the broken response surfaces to the client as a broken response")
	assert.Zero(t, other.hits.Load(), "nothing is retried once the upstream began responding")
}

func TestRetryBounds(t *testing.T) {
	t.Run("attempts", func(t *testing.T) {
		srv, _ := poolProxy(t, proxy.RetryOptions{Attempts: 2},
			proxy.Upstream{Name: "d1", URL: deadURL(t)}, proxy.Upstream{Name: "d2", URL: deadURL(t)},
			proxy.Upstream{Name: "d3", URL: deadURL(t)})
		resp, _ := send(t, http.MethodGet, srv.URL+"/", "")
		assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	})
	t.Run("total time is 504", func(t *testing.T) {
		release := make(chan struct{})
		t.Cleanup(func() { close(release) })
		slow := newUpstreamApp(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		srv, _ := poolProxy(t, proxy.RetryOptions{Timeout: 50 * time.Millisecond}, proxy.Upstream{Name: "slow", URL: mustURL(t, slow.URL)})
		resp, _ := send(t, http.MethodGet, srv.URL+"/", "")
		assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
	})
}

func TestAllDownIsQuick503(t *testing.T) {
	a := newUpstreamApp(t, okHandler)
	srv, pool := poolProxy(t, proxy.RetryOptions{},
		proxy.Upstream{Name: "a", URL: mustURL(t, a.URL)}, proxy.Upstream{Name: "b", URL: mustURL(t, a.URL)})
	for _, n := range []string{"a", "b"} {
		_, err := pool.SetDraining(n, true)
		require.NoError(t, err)
	}
	resp, _ := send(t, http.MethodGet, srv.URL+"/", "")
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	assert.Zero(t, a.hits.Load())
}

func TestDrainLetsInFlightFinish(t *testing.T) {
	arrived, release := make(chan struct{}, 1), make(chan struct{})
	releaseSlow := sync.OnceFunc(func() { close(release) })
	slow := newUpstreamApp(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	})
	t.Cleanup(releaseSlow) // runs before the app's Close, which waits for the handler
	other := newUpstreamApp(t, okHandler)
	srv, pool := poolProxy(t, proxy.RetryOptions{},
		proxy.Upstream{Name: "slow", URL: mustURL(t, slow.URL)}, proxy.Upstream{Name: "other", URL: mustURL(t, other.URL)})
	done := make(chan int)
	go func() {
		resp, err := http.Get(srv.URL + "/slow")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case <-arrived:
	case <-time.After(waitTimeout):
		t.Fatal("the slow request never reached its upstream")
	}
	st, err := pool.SetDraining("slow", true)
	require.NoError(t, err)
	assert.Equal(t, int64(1), st.InFlight)
	for range 4 {
		resp, _ := send(t, http.MethodGet, srv.URL+"/", "")
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	}
	assert.Equal(t, int64(1), slow.hits.Load(), "a draining upstream gets no new request")
	releaseSlow()
	select {
	case status := <-done:
		assert.Equal(t, http.StatusOK, status, "its in-flight request finishes")
	case <-time.After(waitTimeout):
		t.Fatal("the in-flight request never finished")
	}
	require.Eventually(t, func() bool { return pool.States()[0].InFlight == 0 }, waitTimeout, 5*time.Millisecond,
		"the finished request leaves the in-flight count")
	_, err = pool.SetDraining("slow", false)
	require.NoError(t, err)
	for range 2 {
		send(t, http.MethodGet, srv.URL+"/", "")
	}
	assert.Equal(t, int64(2), slow.hits.Load(), "undrain brings it back")
}

// TestTryStateReuseIsolated pins the pooling of the retry bookkeeping
// (attempt.go): requests whose budget fired, requests retried on another
// upstream and plain ones run at once on one proxy, and none is cut short
// or misjudged by state a previous request left behind.
func TestTryStateReuseIsolated(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-r.Context().Done() // answers only once the budget cut the request
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok "+r.URL.Path)
	}))
	t.Cleanup(slow.Close)
	srv, pool := poolProxy(t, proxy.RetryOptions{Timeout: time.Second},
		proxy.Upstream{Name: "dead", URL: deadURL(t)}, proxy.Upstream{Name: "live", URL: mustURL(t, slow.URL)})
	var wg sync.WaitGroup
	statuses := make(chan string, 64)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, _ := send(t, http.MethodGet, srv.URL+"/slow", "")
			statuses <- fmt.Sprint("slow ", i, " ", resp.StatusCode)
		}()
	}
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				path := fmt.Sprintf("/fast/%d/%d", g, i)
				resp, body := send(t, http.MethodPost, srv.URL+path, "payload")
				if resp.StatusCode != http.StatusOK || body != "ok "+path {
					statuses <- fmt.Sprint(path, " ", resp.StatusCode, " ", body)
				}
			}
		}()
	}
	wg.Wait()
	close(statuses)
	var got []string
	for s := range statuses {
		got = append(got, s)
	}
	assert.ElementsMatch(t, []string{"slow 0 504", "slow 1 504", "slow 2 504"}, got,
		"only the slow requests ran out of budget; every fast one (retried off the dead upstream or not) got its answer")
	require.Eventually(t, func() bool {
		for _, s := range pool.States() {
			if s.InFlight != 0 {
				return false
			}
		}
		return true
	}, waitTimeout, 5*time.Millisecond, "every request left the in-flight counts")
}
