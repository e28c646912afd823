package integration

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// pair is two Sidecar instances sharing one real Redis, each in front of
// its own app server.
type pair struct {
	a, b  string // base URLs of instance A and B
	redis *redistest.Server
}

func newPair(t *testing.T) *pair {
	t.Helper()
	return newPairWith(t)
}

// newPairWith is newPair with each mod applied to both configs.
func newPairWith(t *testing.T, mods ...func(*config.Config)) *pair {
	t.Helper()
	rs := redistest.Start(t)
	p := &pair{redis: rs}
	for i, name := range []string{"app-a", "app-b"} {
		app := newApp(t, name)
		c := baseConfig(app.URL)
		c.Store.Type = config.StoreRedis
		c.Store.Redis.Addrs = []string{rs.Addr()}
		for _, mod := range mods {
			mod(c)
		}
		_, base := startSidecar(t, c)
		if i == 0 {
			p.a = base
		} else {
			p.b = base
		}
	}
	return p
}

func TestLoginThroughAIsSeenBehindB(t *testing.T) {
	p := newPair(t)
	c := &client{t: t}
	resp, v := c.get(p.a, "/login?user=ann", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "app-a", v.Server)
	require.NotEmpty(t, c.cookie, "login set a cookie")

	resp, v = c.get(p.b, "/whoami", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "app-b", v.Server)
	assert.False(t, v.New)
	assert.Equal(t, "ann", v.Subject)
	assert.Equal(t, map[string]any{"user": "ann"}, v.Data)

	_, v = c.get(p.b, "/set?k=cart&v=[1,2]", nil)
	_, v = c.get(p.a, "/whoami", nil)
	assert.Equal(t, map[string]any{"user": "ann", "cart": []any{1.0, 2.0}}, v.Data, "a write through B is seen through A")
}

func TestTamperedCookieIsAnonymous(t *testing.T) {
	p := newPair(t)
	c := &client{t: t}
	c.get(p.a, "/login?user=ann", nil)
	good := c.cookie
	for name, bad := range map[string]string{
		"flipped token": flip(good, 5),
		"flipped mac":   flip(good, 60),
		"truncated":     good[:40],
		"garbage":       "not-a-cookie",
	} {
		t.Run(name, func(t *testing.T) {
			tc := &client{t: t, cookie: bad}
			resp, v := tc.get(p.b, "/whoami", nil)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			assert.True(t, v.New)
			assert.Empty(t, v.Data)
			assert.Empty(t, v.Subject)
		})
	}
}

func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// TestSpoofedHeadersNeverReachApp writes the request bytes by hand so
// header names keep their exact case and underscores on the wire.
func TestSpoofedHeadersNeverReachApp(t *testing.T) {
	p := newPair(t)
	c := &client{t: t}
	c.get(p.a, "/login?user=ann", nil)
	spoofs := []string{
		"X-Sidecar-Session", "x-sidecar-session", "X-SIDECAR-SESSION", "X_Sidecar_Session",
		"x_sidecar_session", "X-Sidecar_Session", "X-Sidecar-Patch", "x_sidecar_action", "X-Sidecar-Anything",
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.b, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	var req strings.Builder
	req.WriteString("GET /whoami HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n")
	req.WriteString("Cookie: sidecar_sid=" + c.cookie + "\r\n")
	for _, h := range spoofs {
		fmt.Fprintf(&req, "%s: forged\r\n", h)
	}
	req.WriteString("\r\n")
	_, err = conn.Write([]byte(req.String()))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var v appView
	require.NoError(t, jsonDecode(resp, &v))
	assert.Equal(t, "ann", v.Subject, "the real session still arrives")
	for k, vs := range v.Headers {
		norm := strings.ReplaceAll(strings.ToLower(k), "_", "-")
		if strings.HasPrefix(norm, "x-sidecar-") {
			assert.Equal(t, "X-Sidecar-Session", k, "only Sidecar's own header may carry the prefix")
			assert.Len(t, vs, 1)
		}
		for _, val := range vs {
			assert.NotEqual(t, "forged", val, "spoofed header %s reached the app", k)
		}
	}
}

func TestAppNeverSeesSidecarCookie(t *testing.T) {
	p := newPair(t)
	c := &client{t: t}
	c.get(p.a, "/login?user=ann", nil)
	_, v := c.get(p.b, "/whoami", http.Header{"Cookie": {"JSESSIONID=legacy.node1"}})
	assert.Equal(t, []string{"JSESSIONID=legacy.node1"}, v.Headers["Cookie"])
	for _, vs := range v.Headers {
		for _, val := range vs {
			assert.NotContains(t, val, c.cookie[:43])
		}
	}
}

func TestRegenerateInvalidatesOldCookie(t *testing.T) {
	p := newPair(t)
	c := &client{t: t}
	c.get(p.a, "/set?k=cart&v=[7]", nil)
	before := c.cookie
	require.NotEmpty(t, before)
	c.get(p.a, "/login?user=ann", nil)
	require.NotEqual(t, before, c.cookie, "login regenerated the cookie")

	old := &client{t: t, cookie: before}
	_, v := old.get(p.b, "/whoami", nil)
	assert.True(t, v.New, "the pre-login cookie is dead everywhere")
	_, v = c.get(p.b, "/whoami", nil)
	assert.Equal(t, map[string]any{"user": "ann", "cart": []any{7.0}}, v.Data, "data kept across regenerate")
}

func TestDestroyIsGlobal(t *testing.T) {
	p := newPair(t)
	c := &client{t: t}
	c.get(p.a, "/login?user=ann", nil)
	cookie := c.cookie
	resp, _ := c.get(p.b, "/logout", nil)
	ck := setCookieFor(resp)
	require.NotNil(t, ck)
	assert.Equal(t, -1, ck.MaxAge, "logout expires the cookie")

	replay := &client{t: t, cookie: cookie}
	for _, base := range []string{p.a, p.b} {
		_, v := replay.get(base, "/whoami", nil)
		assert.True(t, v.New, "the session is gone through %s", base)
		replay.cookie = cookie
	}
	keys, err := p.redis.Client(t).Keys(context.Background(), "sidecar:s:*").Result()
	require.NoError(t, err)
	assert.Empty(t, keys, "nothing left in the store")
}

func TestMalformedPatchIs502AndChangesNothing(t *testing.T) {
	p := newPair(t)
	c := &client{t: t}
	c.get(p.a, "/login?user=ann", nil)
	_, before := c.get(p.b, "/whoami", nil)
	resp, _ := c.get(p.a, "/bad-patch", nil)
	assert.Equal(t, http.StatusBadGateway, resp.StatusCode)
	_, after := c.get(p.b, "/whoami", nil)
	assert.Equal(t, before.Data, after.Data)
	assert.Equal(t, before.Version, after.Version)
	assert.Equal(t, "ann", after.Subject)
}

func TestStoreHoldsNoRawToken(t *testing.T) {
	p := newPair(t)
	c := &client{t: t}
	c.get(p.a, "/login?user=ann", nil)
	c.get(p.b, "/set?k=n&v=1", nil)
	token := c.cookie[:43]
	rdb := p.redis.Client(t)
	ctx := context.Background()
	keys, err := rdb.Keys(ctx, "*").Result()
	require.NoError(t, err)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		assert.NotContains(t, k, token)
		typ, err := rdb.Type(ctx, k).Result()
		require.NoError(t, err)
		var dump string
		switch typ {
		case "hash":
			m, err := rdb.HGetAll(ctx, k).Result()
			require.NoError(t, err)
			dump = fmt.Sprint(m)
		case "set":
			m, err := rdb.SMembers(ctx, k).Result()
			require.NoError(t, err)
			dump = fmt.Sprint(m)
		default:
			dump, _ = rdb.Get(ctx, k).Result()
		}
		assert.NotContains(t, dump, token, "key %s", k)
		assert.NotContains(t, dump, c.cookie, "key %s", k)
	}
}

func TestStoreOutageIs503(t *testing.T) {
	p := newPair(t)
	c := &client{t: t}
	c.get(p.a, "/login?user=ann", nil)
	p.redis.Pause()
	defer p.redis.Resume()
	resp, _ := c.get(p.a, "/whoami", nil)
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))
	anon := &client{t: t}
	resp, _ = anon.get(p.a, "/whoami", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "requests without a session are still served")
	p.redis.Resume()
	resp, v := c.get(p.a, "/whoami", nil)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ann", v.Subject)
}
