package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/ops"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// waitBound bounds every wait for something that should happen soon:
// generous, for a busy machine.
const waitBound = 20 * time.Second

// The modes of a faultyStore.
const (
	storeOK int32 = iota
	storeFailing
	storeStalled // Load blocks until its context ends
)

// faultyStore is a memory store whose Load a test makes fail or stall.
type faultyStore struct {
	*memory.Store
	mode  atomic.Int32
	loads atomic.Int64
}

func (f *faultyStore) Load(ctx context.Context, key string, touch *sessions.Touch) (*sessions.Record, error) {
	f.loads.Add(1)
	switch f.mode.Load() {
	case storeFailing:
		return nil, errors.New("dial tcp 10.0.0.9:6379: connection refused")
	case storeStalled:
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return f.Store.Load(ctx, key, touch)
}

func newFaultyStore(t *testing.T, mode int32) *faultyStore {
	s := &faultyStore{Store: memory.New(memory.Options{})}
	t.Cleanup(func() { _ = s.Close() })
	s.mode.Store(mode)
	return s
}

func newPool(t *testing.T, names ...string) *proxy.Pool {
	var ups []proxy.Upstream
	for i, n := range names {
		u, err := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", 1+i))
		require.NoError(t, err)
		ups = append(ups, proxy.Upstream{Name: n, URL: u})
	}
	pool, err := proxy.NewPool(proxy.PoolOptions{Upstreams: ups}, nil, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	return pool
}

// newHandler returns a started Handler, closed at the end of the test.
func newHandler(t *testing.T, o ops.Options) *ops.Handler {
	if o.Interval == 0 {
		o.Interval = 5 * time.Millisecond
	}
	h, err := ops.New(o)
	require.NoError(t, err)
	t.Cleanup(func() { _ = h.Close() })
	h.Start()
	return h
}

// readyz answers GET /readyz and decodes its body.
func readyz(t *testing.T, h http.Handler) (int, ops.Report) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var rep ops.Report
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &rep), rec.Body.String())
	require.Len(t, rep.Checks, 2)
	return rec.Code, rep
}

// waitReadyz polls /readyz until cond holds for its status and report.
func waitReadyz(t *testing.T, h http.Handler, what string, cond func(int, ops.Report) bool) (int, ops.Report) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for {
		code, rep := readyz(t, h)
		if cond(code, rep) {
			return code, rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; last: %d %+v", waitBound, what, code, rep)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func storeOf(rep ops.Report) ops.Check     { return rep.Checks[0] }
func upstreamsOf(rep ops.Report) ops.Check { return rep.Checks[1] }

func TestHealthz(t *testing.T) {
	h := newHandler(t, ops.Options{Store: newFaultyStore(t, storeStalled), Pool: newPool(t, "a")})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	assert.Equal(t, http.StatusOK, rec.Code, "liveness does not depend on the store")
	assert.Equal(t, "ok\n", rec.Body.String())
	assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
}

func TestReadyzBeforeTheFirstCheck(t *testing.T) {
	h, err := ops.New(ops.Options{Store: newFaultyStore(t, storeOK), Pool: newPool(t, "a")})
	require.NoError(t, err)
	code, rep := readyz(t, h)
	assert.Equal(t, http.StatusServiceUnavailable, code)
	assert.Equal(t, "not ready", rep.Status)
	assert.Equal(t, ops.Check{Name: "store", Required: true, Detail: "not checked yet"}, storeOf(rep))
	assert.True(t, upstreamsOf(rep).OK)
	require.NoError(t, h.Close(), "Close without Start")
	require.NoError(t, h.Close(), "twice")
}

func TestReadyzStoreOutage(t *testing.T) {
	for _, required := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "store required"}[required], func(t *testing.T) {
			store := newFaultyStore(t, storeFailing)
			h := newHandler(t, ops.Options{Store: store, Pool: newPool(t, "a", "b"), StoreRequired: required})

			code, rep := waitReadyz(t, h, "a failed check", func(_ int, r ops.Report) bool { return storeOf(r).Since != nil })
			assert.Equal(t, http.StatusServiceUnavailable, code, "503 until the store first answers")
			st := storeOf(rep)
			assert.False(t, st.OK)
			assert.True(t, st.Required)
			assert.Contains(t, st.Detail, "not reached yet")
			assert.Contains(t, st.Error, "connection refused")

			store.mode.Store(storeOK)
			_, rep = waitReadyz(t, h, "ready", func(c int, _ ops.Report) bool { return c == http.StatusOK })
			assert.Equal(t, "ready", rep.Status)
			assert.Equal(t, ops.Check{Name: "upstreams", OK: true, Required: true,
				Detail: "2 of 2 upstreams available (healthy, not ejected, not draining)"}, upstreamsOf(rep))
			assert.True(t, h.StoreUp())
			assert.True(t, h.Ready())

			store.mode.Store(storeFailing)
			code, rep = waitReadyz(t, h, "the outage in the body", func(_ int, r ops.Report) bool { return !storeOf(r).OK })
			st = storeOf(rep)
			assert.Contains(t, st.Error, "connection refused")
			assert.Equal(t, required, st.Required)
			assert.False(t, h.StoreUp())
			if required {
				assert.Equal(t, http.StatusServiceUnavailable, code)
				assert.Contains(t, st.Detail, "readiness_includes_store is on")
			} else {
				assert.Equal(t, http.StatusOK, code, "a later outage does not make it unready")
				assert.Equal(t, "ready", rep.Status)
			}

			store.mode.Store(storeOK)
			waitReadyz(t, h, "the store back", func(c int, r ops.Report) bool { return c == http.StatusOK && storeOf(r).OK })
		})
	}
}

// TestReadyzNeverWaitsOnAStalledStore: a store that never answers (its
// check bounded only by a Timeout of an hour) leaves /readyz answering
// from the last state.
func TestReadyzNeverWaitsOnAStalledStore(t *testing.T) {
	store := newFaultyStore(t, storeOK)
	h := newHandler(t, ops.Options{Store: store, Pool: newPool(t, "a"), Timeout: time.Hour})
	waitReadyz(t, h, "ready", func(c int, _ ops.Report) bool { return c == http.StatusOK })
	store.mode.Store(storeStalled)
	loads := store.loads.Load()
	for store.loads.Load() == loads { // a check is now stalled in the store
		time.Sleep(time.Millisecond)
	}
	answered := make(chan int, 1)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		answered <- rec.Code
	}()
	select {
	case code := <-answered:
		assert.Equal(t, http.StatusOK, code)
	case <-time.After(waitBound):
		t.Fatal("/readyz waited on the stalled store")
	}
	require.NoError(t, h.Close(), "Close cancels the stalled check")
}

func TestReadyzUpstreams(t *testing.T) {
	pool := newPool(t, "a", "b")
	h := newHandler(t, ops.Options{Store: newFaultyStore(t, storeOK), Pool: pool})
	waitReadyz(t, h, "ready", func(c int, _ ops.Report) bool { return c == http.StatusOK })

	for _, name := range []string{"a", "b"} {
		_, err := pool.SetDraining(name, true)
		require.NoError(t, err)
	}
	code, rep := readyz(t, h)
	assert.Equal(t, http.StatusServiceUnavailable, code, "every upstream draining")
	assert.Equal(t, ops.Check{Name: "upstreams", Required: true,
		Detail: "0 of 2 upstreams available (healthy, not ejected, not draining)"}, upstreamsOf(rep))
	assert.True(t, storeOf(rep).OK)

	_, err := pool.SetDraining("b", false)
	require.NoError(t, err)
	code, _ = readyz(t, h)
	assert.Equal(t, http.StatusOK, code)
}

func TestRoutes(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("metrics")) })
	with := newHandler(t, ops.Options{Store: newFaultyStore(t, storeOK), Pool: newPool(t, "a"), Metrics: metrics})
	without := newHandler(t, ops.Options{Store: newFaultyStore(t, storeOK), Pool: newPool(t, "a")})
	for _, tt := range []struct {
		name         string
		h            http.Handler
		method, path string
		want         int
	}{
		{"metrics", with, http.MethodGet, "/metrics", http.StatusOK},
		{"no metrics handler", without, http.MethodGet, "/metrics", http.StatusNotFound},
		{"HEAD", with, http.MethodHead, "/healthz", http.StatusOK},
		{"POST", with, http.MethodPost, "/healthz", http.StatusMethodNotAllowed},
		{"unknown path", with, http.MethodGet, "/", http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			assert.Equal(t, tt.want, rec.Code)
		})
	}
}

func TestNewRequiresStoreAndPool(t *testing.T) {
	_, err := ops.New(ops.Options{Pool: newPool(t, "a")})
	assert.ErrorContains(t, err, "Options.Store")
	_, err = ops.New(ops.Options{Store: newFaultyStore(t, storeOK)})
	assert.ErrorContains(t, err, "Options.Pool")
}
