package integration

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/admin"
	"github.com/sidecarproxy/sidecar/sessions"
	boltstore "github.com/sidecarproxy/sidecar/stores/bolt"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// Short session lives for TestLogoutEverywhere: long enough for the
// logins, the listing and the revoke to happen well within them on a busy
// machine, short enough to wait for their expiry.
const (
	shortLife     = 10 * time.Second
	adminTestAuth = "logout-everywhere-admin-token-0123"
)

// revokeStore is one store TestLogoutEverywhere runs on: the config keys
// that select it, and what the test can see of it from outside Sidecar.
type revokeStore struct {
	set map[string]any
	// gone reports whether nothing is left in the store of the sessions
	// under keys (their records, their handles) while Sidecar runs; nil
	// when the store cannot be read then (bolt: Sidecar holds the file).
	gone func(t *testing.T, keys, handles []string) (bool, string)
	// indexLen is the number of entries principal's index holds, while
	// Sidecar runs; nil as for gone.
	indexLen func(t *testing.T, principal string) int
	// afterStop checks, once Sidecar has stopped, that keys hold no
	// session and principal's index no entry; nil for a store read while
	// it runs.
	afterStop func(t *testing.T, principal string, keys []string)
}

// redisRevokeStore is a revokeStore on the Redis client reaches, at addrs.
func redisRevokeStore(client goredis.UniversalClient, addrs []string) revokeStore {
	const prefix = "sidecar:" // the default store.redis.prefix
	indexLen := func(t *testing.T, p string) int {
		sum := sha256.Sum256([]byte(p))
		n, err := client.ZCard(t.Context(), prefix+"p:"+hex.EncodeToString(sum[:])).Result()
		require.NoError(t, err)
		return int(n)
	}
	return revokeStore{
		set: map[string]any{"store.type": "redis", "store.redis.addrs": addrs},
		gone: func(t *testing.T, keys, handles []string) (bool, string) {
			var left []string
			for i, k := range keys {
				for _, rk := range []string{prefix + "s:" + k, prefix + "h:" + handles[i]} {
					n, err := client.Exists(t.Context(), rk).Result()
					require.NoError(t, err)
					if n > 0 {
						left = append(left, rk)
					}
				}
			}
			return len(left) == 0, fmt.Sprintf("still in Redis: %v", left)
		},
		indexLen: indexLen,
	}
}

// boltRevokeStore is a revokeStore on a bolt file in a fresh directory.
func boltRevokeStore(t *testing.T) revokeStore {
	path := filepath.Join(t.TempDir(), "sessions.db")
	return revokeStore{
		set: map[string]any{"store.type": "bolt", "store.bolt.path": path},
		afterStop: func(t *testing.T, p string, keys []string) {
			s, err := boltstore.Open(path, boltstore.Options{SweepInterval: -1})
			require.NoError(t, err)
			defer func() { require.NoError(t, s.Close()) }()
			for _, k := range keys {
				_, err := s.Load(t.Context(), k, nil)
				assert.ErrorIs(t, err, sessions.ErrNotFound, "a revoked session is gone from the file")
			}
			n, err := s.PrincipalIndexLen(t.Context(), p)
			require.NoError(t, err)
			assert.Zero(t, n, "entries left in %s's index", p)
		},
	}
}

// TestLogoutEverywhere: one principal logged in from three clients is
// logged out everywhere by one call of the real CLI; the sessions are
// gone from the store (records, handles, index entries); each client's
// next request is anonymous (not "replaced": a revoke is a logout), and
// logging in again works at once; another principal's session is left
// alone; and once the sessions have expired, the principal's index holds
// nothing. On Redis standalone, Redis Cluster and bolt, with the shipped
// defaults but for short session lives and the admin API turned on.
func TestLogoutEverywhere(t *testing.T) {
	for _, tt := range []struct {
		name  string
		store func(t *testing.T) revokeStore
	}{
		{"RedisStandalone", func(t *testing.T) revokeStore {
			rs := redistest.Start(t)
			return redisRevokeStore(rs.Client(t), []string{rs.Addr()})
		}},
		{"RedisCluster", func(t *testing.T) revokeStore {
			cl := redistest.StartCluster(t, 3)
			return redisRevokeStore(cl.Client(t), cl.Addrs())
		}},
		{"Bolt", boltRevokeStore},
	} {
		t.Run(tt.name, func(t *testing.T) { logoutEverywhere(t, tt.store(t)) })
	}
}

func logoutEverywhere(t *testing.T, st revokeStore) {
	app := newApp(t, "app")
	spec := sidecarSpec{Upstreams: []upstreamSpec{{Name: "app", URL: app.URL}}, Set: map[string]any{
		"admin.listen":             freeAddr(t),
		"admin.token":              adminTestAuth,
		"session.idle_timeout":     shortLife.String(),
		"session.absolute_timeout": shortLife.String(),
		"session.touch_interval":   "1s",
	}}
	for k, v := range st.set {
		spec.Set[k] = v
	}
	sc := startSidecarProc(t, spec)
	cli := func(args ...string) string {
		t.Helper()
		out, code := runSidecar(t, nil, append(args, "--config", sc.cfgPath)...)
		require.Equal(t, 0, code, "sidecar %s:\n%s", strings.Join(args, " "), out)
		return out
	}

	// Three clients log in as ann, one as bob.
	agents := []string{"ann-phone/1.0", "ann-laptop/2.0", "ann-tablet/3.0"}
	var clients []*client
	var handles, keys []string
	for _, ua := range agents {
		cl := &client{t: t}
		requireOK(t, cl.do(sc.URL(), "/login?user=ann", http.Header{"User-Agent": {ua}}), "login from %s", ua)
		r := cl.do(sc.URL(), "/whoami", http.Header{"User-Agent": {ua}})
		requireOK(t, r, "whoami from %s", ua)
		require.Equal(t, "ann", r.View.Subject)
		clients, handles, keys = append(clients, cl), append(handles, r.View.SID), append(keys, storeKey(t, cl.cookie))
	}
	bob := &client{t: t}
	requireOK(t, bob.do(sc.URL(), "/login?user=bob", nil), "bob's login")

	// The CLI lists them, with the client each one was created from.
	table := cli("sessions", "list", "--principal", "ann")
	for i, h := range handles {
		assert.Regexp(t, `(?m)^`+h+` .* 127\.0\.0\.1 +`+strings.ReplaceAll(agents[i], ".", `\.`)+`$`, table)
	}
	var list admin.SessionList
	require.NoError(t, json.Unmarshal([]byte(cli("sessions", "list", "--json", "--principal", "ann")), &list))
	require.Len(t, list.Sessions, 3, "ann's sessions:\n%s", table)
	for _, s := range list.Sessions {
		assert.Contains(t, handles, s.Handle)
		assert.True(t, s.AbsoluteExpires.Equal(s.Created.Add(shortLife)))
	}
	if st.indexLen != nil {
		require.Equal(t, 3, st.indexLen(t, "ann"))
	}
	assert.Contains(t, cli("sessions", "count"), "4 live sessions")

	// One call logs ann out everywhere.
	assert.Equal(t, "revoked 3 session(s) of ann\n", cli("sessions", "revoke", "--principal", "ann"))
	if st.gone != nil {
		ok, left := st.gone(t, keys, handles)
		assert.True(t, ok, left)
		assert.Zero(t, st.indexLen(t, "ann"), "Delete dropped the index entries")
	}
	assert.Equal(t, "ann has no live session\n", cli("sessions", "list", "--principal", "ann"))
	assert.Contains(t, cli("sessions", "count"), "1 live sessions", "bob's")

	for i, cl := range clients {
		r := cl.do(sc.URL(), "/whoami", nil)
		requireOK(t, r, "client %d after the revoke", i)
		assert.True(t, r.View.New, "client %d is anonymous: %+v", i, r.View)
		assert.Empty(t, r.View.Subject)
		assert.Empty(t, r.View.SID)
	}
	r := bob.do(sc.URL(), "/whoami", nil)
	requireOK(t, r, "bob after ann's revoke")
	assert.Equal(t, "bob", r.View.Subject, "another principal is left alone")

	// A revoke leaves no tombstone: the revoked cookie logs in again at
	// once (a replaced cookie's write would get 409).
	again := clients[0]
	requireOK(t, again.do(sc.URL(), "/login?user=ann", nil), "login again after the revoke")
	r = again.do(sc.URL(), "/whoami", nil)
	requireOK(t, r, "whoami after logging in again")
	require.Equal(t, "ann", r.View.Subject)
	keys = append(keys, storeKey(t, again.cookie))

	// Once every session has expired, ann's index holds nothing. (Polled
	// through the API's Go client: a CLI process per poll is too dear.)
	api, err := admin.NewClient(spec.Set["admin.listen"].(string), []byte(adminTestAuth), nil)
	require.NoError(t, err)
	defer api.CloseIdleConnections()
	waitUntil(t, "ann's sessions to expire", func() (bool, string) {
		l, err := api.Sessions(t.Context(), "ann")
		if err != nil {
			return false, err.Error()
		}
		if st.indexLen == nil {
			return l.Total == 0, fmt.Sprintf("%+v", l)
		}
		n := st.indexLen(t, "ann")
		return l.Total == 0 && n == 0, fmt.Sprintf("%+v; %d index entries", l, n)
	})
	sc.stop()
	if st.afterStop != nil {
		st.afterStop(t, "ann", keys)
	}
}

// storeKey is the store key of the session whose cookie value is cookie.
func storeKey(t *testing.T, cookie string) string {
	t.Helper()
	signer, err := sessions.NewSigner([][]byte{[]byte(cookieSecret)})
	require.NoError(t, err)
	tok, _, err := signer.Verify(cookie)
	require.NoError(t, err)
	return tok.Key()
}
