package integration

import (
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// twoOnRedis starts two Sidecars sharing one real Redis, each in front of
// its own app, with mod applied to both configs.
func twoOnRedis(t *testing.T, mod func(*config.Config)) (a, b string) {
	t.Helper()
	rs := redistest.Start(t)
	var bases []string
	for _, name := range []string{"app-a", "app-b"} {
		c := baseConfig(newApp(t, name).URL)
		c.Store.Type = config.StoreRedis
		c.Store.Redis.Addrs = []string{rs.Addr()}
		if mod != nil {
			mod(c)
		}
		_, base := startSidecar(t, c)
		bases = append(bases, base)
	}
	return bases[0], bases[1]
}

func locked(c *config.Config) { c.Session.Locking = config.LockingSession }

// fire sends n requests of one session at once, alternating between the
// bases, and returns the statuses.
func fire(t *testing.T, cookie string, n int, path func(i int) string, bases ...string) []int {
	t.Helper()
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := &client{t: t, cookie: cookie}
			resp, _ := c.get(bases[i%len(bases)], path(i), nil)
			statuses[i] = resp.StatusCode
		}()
	}
	wg.Wait()
	return statuses
}

// TestDistinctAttributesUnderConcurrency: 100 concurrent requests of one
// session, through two Sidecars on one Redis, each writing its own
// attribute: all 100 are there. Per-attribute deltas need no lock.
func TestDistinctAttributesUnderConcurrency(t *testing.T) {
	a, b := twoOnRedis(t, nil)
	c := &client{t: t}
	c.get(a, "/login?user=ann", nil)
	statuses := fire(t, c.cookie, 100, func(i int) string { return fmt.Sprintf("/set?k=attr%d&v=%d", i, i) }, a, b)
	for i, s := range statuses {
		require.Equal(t, http.StatusOK, s, "request %d", i)
	}
	_, v := c.get(b, "/whoami", nil)
	for i := range 100 {
		assert.Equal(t, float64(i), v.Data[fmt.Sprintf("attr%d", i)], "attr%d", i)
	}
	assert.Len(t, v.Data, 101, "100 attributes and the user")
	assert.Equal(t, int64(101), v.Version, "the login created it (version 1), then 100 writes")
}

// TestReadModifyWriteIncrements: 100 concurrent increments of one session
// attribute through two Sidecars. With session locking every one counts;
// without it, updates are lost (logged to show the race is real).
func TestReadModifyWriteIncrements(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*config.Config)
	}{{"locking session", locked}, {"locking off", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := twoOnRedis(t, tc.mod)
			c := &client{t: t}
			c.get(a, "/set?k=n&v=0", nil)
			statuses := fire(t, c.cookie, 100, func(int) string { return "/incr" }, a, b)
			for i, s := range statuses {
				require.Equal(t, http.StatusOK, s, "request %d", i)
			}
			_, v := c.get(a, "/whoami", nil)
			n := int(v.Data["n"].(float64))
			if tc.mod != nil {
				assert.Equal(t, 100, n, "every increment counted under the session lock")
				return
			}
			t.Logf("without session locking 100 concurrent increments gave n=%d: %d updates lost", n, 100-n)
			assert.Less(t, n, 100, "the race without locking is real")
		})
	}
}

// TestSlowWriteNeverResurrectsLoggedOutSession: a write that is still in
// the app when the user logs out (through another instance where there
// are two) never brings the session back, in both locking modes and every
// store.
func TestSlowWriteNeverResurrectsLoggedOutSession(t *testing.T) {
	stores := map[string]func(t *testing.T, mod func(*config.Config)) (string, string){
		"memory": func(t *testing.T, mod func(*config.Config)) (string, string) {
			c := baseConfig(newApp(t, "app").URL)
			if mod != nil {
				mod(c)
			}
			_, base := startSidecar(t, c)
			return base, base
		},
		"bolt": func(t *testing.T, mod func(*config.Config)) (string, string) {
			c := baseConfig(newApp(t, "app").URL)
			c.Store.Type = config.StoreBolt
			c.Store.Bolt.Path = filepath.Join(t.TempDir(), "s.db")
			if mod != nil {
				mod(c)
			}
			_, base := startSidecar(t, c)
			return base, base
		},
		"redis, two instances": twoOnRedis,
	}
	for storeName, start := range stores {
		for _, mode := range []struct {
			name string
			mod  func(*config.Config)
		}{{"locking off", nil}, {"locking session", locked}} {
			t.Run(storeName+"/"+mode.name, func(t *testing.T) {
				a, b := start(t, mode.mod)
				c := &client{t: t}
				c.get(a, "/login?user=ann", nil)
				cookie := c.cookie
				gate := t.Name()

				slow := make(chan int)
				go func() {
					sc := &client{t: t, cookie: cookie}
					resp, _ := sc.get(a, "/slow-set?k=late&v=1&gate="+gate, nil)
					slow <- resp.StatusCode
				}()
				<-slowGate(gate).arrived // the write has loaded the session and is in the app
				logout := make(chan int)
				go func() {
					lc := &client{t: t, cookie: cookie}
					resp, _ := lc.get(b, "/logout", nil)
					logout <- resp.StatusCode
				}()
				if mode.mod == nil {
					// Unlocked: the logout completes while the write is in the app.
					require.Equal(t, http.StatusOK, <-logout)
					close(slowGate(gate).release)
					assert.Equal(t, http.StatusOK, <-slow, "the late write is dropped, not an error")
				} else {
					// Locked: the logout waits for the write's lock, then destroys.
					select {
					case <-logout:
						t.Fatal("the logout ran while the session's lock was held")
					default:
					}
					close(slowGate(gate).release)
					assert.Equal(t, http.StatusOK, <-slow)
					require.Equal(t, http.StatusOK, <-logout)
				}
				for _, base := range []string{a, b} {
					rc := &client{t: t, cookie: cookie}
					_, v := rc.get(base, "/whoami", nil)
					assert.True(t, v.New, "the logged-out session stays gone behind %s", base)
					assert.Empty(t, v.Data)
				}
			})
		}
	}
}
