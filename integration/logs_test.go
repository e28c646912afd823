package integration

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// countLog counts the entries whose "log" is name.
func countLog(entries []map[string]any, name string) int {
	n := 0
	for _, e := range entries {
		if e["log"] == name {
			n++
		}
	}
	return n
}

// TestLogStaysJSONThroughRedisOutage runs the real binary on Redis under
// requests that need their session, stops Redis for a few seconds and
// starts it again: every line Sidecar writes (standard output and
// standard error), the Redis client's own complaints included, is one
// JSON object, and those complaints are rate-limited rather than one per
// request. Before go-redis's logger was routed, a 3 s outage wrote two
// dozen "redis: <date> pool.go:770: ..." lines.
func TestLogStaysJSONThroughRedisOutage(t *testing.T) {
	rs := redistest.Start(t)
	app := startApp(t, "app1")
	sc := startSidecarProc(t, sidecarSpec{Redis: rs.Addr(), Upstreams: []upstreamSpec{{Name: "app1", URL: app.URL()}},
		Set: map[string]any{"store.timeout": "500ms"}})

	resp, err := http.Post(sc.URL()+"/set?k=n&v=1", "", nil)
	require.NoError(t, err)
	drain(resp.Body)
	ck := setCookieFor(resp)
	require.NotNil(t, ck, "the write sets a cookie")

	var ok, unavailable atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() { // exits when stop is closed
			defer wg.Done()
			c := &client{cookie: ck.Value}
			for {
				select {
				case <-stop:
					return
				default:
				}
				r, err := c.try(sc.URL(), "/whoami", nil)
				switch {
				case err != nil:
				case r.Status == http.StatusOK:
					ok.Add(1)
				case r.Status == http.StatusServiceUnavailable:
					unavailable.Add(1)
				}
			}
		}()
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopLoad)
	waitUntil(t, "requests to succeed", func() (bool, string) { return ok.Load() > 20, fmt.Sprint(ok.Load()) })

	rs.Stop()
	down := time.Now()
	waitUntil(t, "Redis to be down for 3s under requests", func() (bool, string) {
		return time.Since(down) > 3*time.Second && unavailable.Load() > 20, fmt.Sprint(unavailable.Load(), " answered 503")
	})
	rs.Start()
	before := ok.Load()
	waitUntil(t, "requests to succeed again", func() (bool, string) { return ok.Load() > before+20, fmt.Sprint(ok.Load()) })
	stopLoad()
	sc.stop()

	entries := logtest.JSONLines(t, sc.p.out.String())
	redis := countLog(entries, "redis")
	assert.Positive(t, redis, "go-redis complained during the outage, in JSON")
	assert.Less(t, int64(redis), unavailable.Load(), "not one line per failed request")
	assert.Positive(t, sc.count("more Redis client lines like this not logged"), "the rest are counted, at exit at the latest")
	t.Logf("%d requests served, %d answered 503; %d go-redis lines", ok.Load(), unavailable.Load(), redis)
}

// TestAdminTokenStormThroughBinary: wrong tokens on the admin API get
// 401, then 429 with Retry-After for the address, the right token
// included; the log shows a few refusals and the lockout, as JSON.
func TestAdminTokenStormThroughBinary(t *testing.T) {
	app := startApp(t, "app1")
	adminAddr := freeAddr(t)
	sc := startSidecarProc(t, sidecarSpec{Upstreams: []upstreamSpec{{Name: "app1", URL: app.URL()}},
		Set: map[string]any{"admin.listen": adminAddr, "admin.token": adminToken}})
	adminURL := "http://" + adminAddr + "/upstreams"
	get := func(token string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(http.MethodGet, adminURL, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		drain(resp.Body)
		return resp
	}
	require.Equal(t, http.StatusOK, get(adminToken).StatusCode)
	statuses := map[int]int{}
	for range 30 {
		statuses[get("guessed-token-0123456789").StatusCode]++
	}
	assert.Equal(t, map[int]int{http.StatusUnauthorized: 10, http.StatusTooManyRequests: 20}, statuses)
	resp := get(adminToken)
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "the right token waits out the lockout too")
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	sc.stop()

	out := sc.p.out.String()
	logtest.JSONLines(t, out)
	assert.Equal(t, 5, sc.count("admin API: authentication failed")+sc.count("admin API: refused a locked-out address"),
		"the first 5 refusals of the minute are logged")
	assert.Equal(t, 1, sc.count("admin API: too many failed authentications; address locked out"))
	assert.NotContains(t, out, "guessed-token")
}
