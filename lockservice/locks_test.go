package lockservice_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/lockservice"
)

func TestRoundTrip(t *testing.T) {
	backends(t, func(t *testing.T, e *env, _ *clocktest.Clock) {
		start := time.Now()
		status, l, _ := e.acquire(t, nil, "orders/42", "ttl=30s&wait=1s")
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, "orders/42", l.Name)
		assert.Len(t, l.Token, 26)
		assert.Positive(t, l.Fence)
		assert.Equal(t, strconv.FormatInt(l.Fence, 10), l.FenceString)
		assert.Positive(t, l.TTLMillis)
		assert.LessOrEqual(t, l.TTLMillis, int64(30_000))
		exp, err := time.Parse(time.RFC3339, l.ExpiresAt)
		require.NoError(t, err, l.ExpiresAt)
		assert.WithinDuration(t, start.Add(30*time.Second), exp, 5*time.Second)
		assert.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`, l.ExpiresAt)

		t.Run("held: a second acquire is not obtained", func(t *testing.T) {
			status, _, er := e.acquire(t, nil, "orders/42", "ttl=30s")
			assert.Equal(t, http.StatusConflict, status)
			assert.Equal(t, lockservice.ErrorResponse{Error: "not obtained", Name: "orders/42"}, er)
		})
		t.Run("wrong token: extend and release are not held", func(t *testing.T) {
			status, _, er := e.extend(t, "orders/42", "AAAAAAAAAAAAAAAAAAAAAAAAAA", "ttl=30s")
			assert.Equal(t, http.StatusConflict, status)
			assert.Equal(t, "not held", er.Error)
			status, er = e.release(t, nil, "orders/42", "AAAAAAAAAAAAAAAAAAAAAAAAAA")
			assert.Equal(t, http.StatusConflict, status)
			assert.Equal(t, "not held", er.Error)
			status, er = e.release(t, nil, "orders/43", l.Token)
			assert.Equal(t, http.StatusConflict, status, "a token holds only its own lock")
			assert.Equal(t, "not held", er.Error)
		})
		t.Run("extend keeps token and fence", func(t *testing.T) {
			status, x, _ := e.extend(t, "orders/42", l.Token, "ttl=2m")
			require.Equal(t, http.StatusOK, status)
			assert.Equal(t, l.Token, x.Token)
			assert.Equal(t, l.Fence, x.Fence)
			assert.Greater(t, x.TTLMillis, int64(60_000))
		})
		t.Run("release, then not held", func(t *testing.T) {
			status, _ := e.release(t, nil, "orders/42", l.Token)
			require.Equal(t, http.StatusOK, status)
			status, er := e.release(t, nil, "orders/42", l.Token)
			assert.Equal(t, http.StatusConflict, status)
			assert.Equal(t, "not held", er.Error)
			status, _, _ = e.extend(t, "orders/42", l.Token, "ttl=1s")
			assert.Equal(t, http.StatusConflict, status)
		})
		t.Run("the next lease has a higher fence", func(t *testing.T) {
			status, next, _ := e.acquire(t, nil, "orders/42", "ttl=30s")
			require.Equal(t, http.StatusOK, status)
			assert.Greater(t, next.Fence, l.Fence)
			assert.NotEqual(t, l.Token, next.Token)
		})

		logs := e.logs.String()
		assert.Contains(t, logs, "lock service: acquired")
		assert.NotContains(t, logs, l.Token, "lease tokens are never logged")
		assert.NotContains(t, logs, token, "the bearer token is never logged")
	})
}

// A lease that runs out frees the lock: the next acquire gets it with a
// higher fence, and the old token can neither extend nor release.
func TestExpiryFreesTheLock(t *testing.T) {
	backends(t, func(t *testing.T, e *env, clock *clocktest.Clock) {
		ttl := "10s"
		if clock == nil {
			// Real time: short enough to wait out, long enough that the
			// next request surely finds it held on a busy machine.
			ttl = "2s"
		}
		status, first, _ := e.acquire(t, nil, "expiring", "ttl="+ttl)
		require.Equal(t, http.StatusOK, status)
		status, _, _ = e.acquire(t, nil, "expiring", "ttl=10s")
		require.Equal(t, http.StatusConflict, status, "held until it expires")

		var next lockservice.Lease
		if clock != nil {
			clock.Advance(10 * time.Second)
			status, next, _ = e.acquire(t, nil, "expiring", "ttl=10s")
		} else {
			// The wait ends at the expiry, about 2s, well before wait
			// (20s) would end it.
			start := time.Now()
			status, next, _ = e.acquire(t, nil, "expiring", "ttl=10s&wait=20s")
			assert.Less(t, time.Since(start), 10*time.Second)
		}
		require.Equal(t, http.StatusOK, status)
		assert.Greater(t, next.Fence, first.Fence)

		status, _, er := e.extend(t, "expiring", first.Token, "ttl=10s")
		assert.Equal(t, http.StatusConflict, status)
		assert.Equal(t, "not held", er.Error)
		status, er = e.release(t, nil, "expiring", first.Token)
		assert.Equal(t, http.StatusConflict, status)
		assert.Equal(t, "not held", er.Error)
		status, _ = e.release(t, nil, "expiring", next.Token)
		assert.Equal(t, http.StatusOK, status, "the old token's failed release left the new lease alone")
	})
}

// Apps' locks live under KeyPrefix: an app's lock named like one of
// Sidecar's own keys is a different lock.
func TestNamespace(t *testing.T) {
	e := newLocal(t, clocktest.New())
	ctx := context.Background()
	internal, err := e.locker.Acquire(ctx, "session:abc", time.Minute, 0)
	require.NoError(t, err)

	status, l, _ := e.acquire(t, nil, "session:abc", "ttl=1m")
	require.Equal(t, http.StatusOK, status, "the app's lock is not Sidecar's")
	status, _ = e.release(t, nil, "session:abc", internal.Token())
	assert.Equal(t, http.StatusConflict, status, "an app cannot release Sidecar's lock even with its token")
	assert.NoError(t, internal.Extend(ctx, time.Minute), "Sidecar's lock is still held")

	_, err = e.locker.Acquire(ctx, lockservice.KeyPrefix+"session:abc", time.Minute, 0)
	assert.ErrorIs(t, err, lock.ErrNotObtained, "the app's lock is the Locker's KeyPrefix+name")
	status, _ = e.release(t, nil, "session:abc", l.Token)
	assert.Equal(t, http.StatusOK, status)
}

// A client that disconnects while it waits stops the wait.
func TestDisconnectStopsTheWait(t *testing.T) {
	e := newLocal(t, clocktest.New())
	status, held, _ := e.acquire(t, nil, "busy", "ttl=1m")
	require.Equal(t, http.StatusOK, status)

	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/locks/busy/acquire?ttl=1m&wait=30s", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", auth)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	require.Eventually(t, func() bool { return e.locker.Stats().Waiting == 1 },
		10*time.Second, time.Millisecond, "the acquire is waiting")
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	require.Eventually(t, func() bool { return e.locker.Stats().Waiting == 0 },
		10*time.Second, time.Millisecond, "the server stopped waiting well before wait=30s")
	assert.Equal(t, int64(1), e.locker.Stats().NotObtained)

	status, _ = e.release(t, nil, "busy", held.Token)
	require.Equal(t, http.StatusOK, status)
	status, _, _ = e.acquire(t, nil, "busy", "ttl=1m")
	assert.Equal(t, http.StatusOK, status, "the abandoned wait left nothing behind")
}

// With its Redis down the service answers 503 with Retry-After, and the
// failure is logged.
func TestBackendUnavailable(t *testing.T) {
	e, srv := newRedis(t)
	status, l, _ := e.acquire(t, nil, "r", "ttl=1m")
	require.Equal(t, http.StatusOK, status)
	srv.Stop()

	for name, path := range map[string]string{
		"acquire":      "/locks/r2/acquire?ttl=1m",
		"acquire wait": "/locks/r2/acquire?ttl=1m&wait=300ms",
		"extend":       "/locks/r/extend?ttl=1m&token=" + l.Token,
		"release":      "/locks/r/release?token=" + l.Token,
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := e.do(t, nil, request{method: http.MethodPost, path: path, auth: auth})
			assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "%s", body)
			assert.Equal(t, "1", resp.Header.Get("Retry-After"))
			var er lockservice.ErrorResponse
			require.NoError(t, json.Unmarshal(body, &er))
			assert.Equal(t, "lock backend unavailable", er.Error)
		})
	}
	logs := e.logs.String()
	assert.Contains(t, logs, `"level":"warn"`)
	assert.Contains(t, logs, `"status":503`)
	assert.NotContains(t, logs, l.Token)
}

func TestStats(t *testing.T) {
	e := newLocal(t, clocktest.New())
	status, l, _ := e.acquire(t, nil, "s", "ttl=1m")
	require.Equal(t, http.StatusOK, status)
	status, _, _ = e.acquire(t, nil, "s", "ttl=1m")
	require.Equal(t, http.StatusConflict, status)
	status, _, _ = e.extend(t, "s", l.Token, "ttl=1m")
	require.Equal(t, http.StatusOK, status)
	status, _ = e.release(t, nil, "s", l.Token)
	require.Equal(t, http.StatusOK, status)

	resp, body := e.do(t, nil, request{method: http.MethodGet, path: "/locks/stats", auth: auth})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var s lockservice.Stats
	require.NoError(t, json.Unmarshal(body, &s))
	assert.Equal(t, lockservice.Stats{Acquired: 1, Contended: 1, NotObtained: 1, Extended: 1, Released: 1}, s)
	assert.Contains(t, string(body), `"not_obtained":1`)
}
