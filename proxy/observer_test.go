package proxy_test

import (
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu   sync.Mutex
	seen []proxy.RequestInfo
}

func (r *recorder) Request(info proxy.RequestInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = append(r.seen, info)
}

// next waits for the observation of request number n (from 1): the
// Observer runs once the handler returns, which may be after the client
// has its response.
func (r *recorder) next(t *testing.T, n int) proxy.RequestInfo {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		r.mu.Lock()
		got := len(r.seen)
		var info proxy.RequestInfo
		if got >= n {
			info = r.seen[n-1]
		}
		r.mu.Unlock()
		if got > n {
			t.Fatalf("%d observations, want %d", got, n)
		}
		if got == n {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for observation %d; have %d", waitTimeout, n, got)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestObserver(t *testing.T) {
	rec := &recorder{}
	e := newEnv(t, func(o *proxy.Options) { o.Observer = rec })

	e.setRespond(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Sidecar-Patch", `{"user":"ann"}`)
		_, _ = io.WriteString(w, "logged in")
	})
	resp := e.do("", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	c := sessionCookie(t, resp)
	require.NotNil(t, c)
	info := rec.next(t, 1)
	assert.Equal(t, http.StatusOK, info.Status)
	assert.Equal(t, "app1", info.Upstream)
	assert.Equal(t, sessions.OutcomeCreated, info.Session)
	assert.False(t, info.Expired)
	assert.Empty(t, info.Error)
	assert.Equal(t, len(e.seen().header.Get("X-Sidecar-Session")), info.HeaderBytes, "the JWT's length")
	assert.Positive(t, info.UpstreamDuration)
	assert.GreaterOrEqual(t, info.Duration, info.UpstreamDuration)

	e.setRespond(nil)
	require.Equal(t, http.StatusOK, e.do(c.Value, nil).StatusCode)
	info = rec.next(t, 2)
	assert.Equal(t, sessions.OutcomeLoaded, info.Session)
	assert.False(t, info.Expired)

	e.setRespond(func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("X-Sidecar-Action", "destroy") })
	require.Equal(t, http.StatusOK, e.do(c.Value, nil).StatusCode)
	assert.Equal(t, sessions.OutcomeDestroyed, rec.next(t, 3).Session)

	e.setRespond(nil)
	require.Equal(t, http.StatusOK, e.do(c.Value, nil).StatusCode)
	info = rec.next(t, 4)
	assert.True(t, info.Expired, "the cookie verified, its session is gone")
	assert.Equal(t, sessions.OutcomeNone, info.Session)

	e.store.down.Store(true)
	require.Equal(t, http.StatusServiceUnavailable, e.do(c.Value, nil).StatusCode)
	info = rec.next(t, 5)
	assert.Equal(t, http.StatusServiceUnavailable, info.Status)
	assert.Equal(t, "store_unavailable", info.Error)
	assert.Empty(t, info.Upstream, "no upstream reached")
	assert.Zero(t, info.UpstreamDuration)
	assert.Zero(t, info.HeaderBytes, "no header signed")
	assert.False(t, info.Expired, "not known: the store did not answer")
	e.store.down.Store(false)

	e.setRespond(func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close() // the app dies before answering
		}
	})
	require.Equal(t, http.StatusBadGateway, e.do("", nil).StatusCode)
	info = rec.next(t, 6)
	assert.Equal(t, "upstream", info.Error)
	assert.Equal(t, "app1", info.Upstream)
	assert.Positive(t, info.UpstreamDuration, "time until the try failed")
}
