package integration

import (
	"encoding/json"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/admin"
	"github.com/sidecarproxy/sidecar/sessions"
	boltstore "github.com/sidecarproxy/sidecar/stores/bolt"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
	"github.com/sidecarproxy/sidecar/stores/storetest"
)

// migrateValues are the attribute values the migrated sessions hold: every
// JSON kind, odd spacing and non-ASCII text, which must arrive byte for
// byte.
var migrateValues = []string{
	`42`, `"Grüße ✓ \"quoted\""`, `{"a": [1, 2 ,{"b":null}]}`, `true`, `-1.5e3`, `[]`,
}

// migrateUser is one browser whose session the migration must keep.
type migrateUser struct {
	cl        *client
	principal string // "" for an anonymous session
	key       string // the attribute it wrote, or its store key when minted
	view      appView
}

// loginUsers opens n sessions through the Sidecar at base: two in three
// logged in (as one of four principals), each with an attribute of its
// own, and returns them with what the app saw.
func loginUsers(t *testing.T, base string, n int) []*migrateUser {
	t.Helper()
	users := make([]*migrateUser, n)
	for i := range users {
		u := &migrateUser{cl: &client{t: t}, key: fmt.Sprintf("k%d", i)}
		if i%3 != 0 {
			u.principal = fmt.Sprintf("user%d", i%4)
			requireOK(t, u.cl.do(base, "/login?user="+u.principal, nil), "login %d", i)
		}
		v := migrateValues[i%len(migrateValues)]
		requireOK(t, u.cl.do(base, "/set?k="+u.key+"&v="+url.QueryEscape(v), nil), "set %d", i)
		r := u.cl.do(base, "/whoami", nil)
		requireOK(t, r, "whoami %d", i)
		require.False(t, r.View.New)
		u.view = r.View
		users[i] = u
	}
	return users
}

// checkUsers checks that every user's cookie still finds its session at
// base: same handle, principal, data and version (a read does not bump
// it), and that the admin API lists each logged-in user's handle.
func checkUsers(t *testing.T, base string, api *admin.Client, users []*migrateUser) {
	t.Helper()
	for i, u := range users {
		r := u.cl.do(base, "/whoami", nil)
		requireOK(t, r, "user %d after the migration", i)
		assert.False(t, r.View.New, "user %d still has a session", i)
		assert.Equal(t, u.view.SID, r.View.SID, "user %d: the same session (handle)", i)
		assert.Equal(t, u.principal, r.View.Subject, "user %d: principal", i)
		assert.Equal(t, u.view.Data, r.View.Data, "user %d: data", i)
		assert.Equal(t, u.view.Version, r.View.Version, "user %d: version", i)
		if u.principal == "" {
			continue
		}
		l, err := api.Sessions(t.Context(), u.principal)
		require.NoError(t, err)
		var handles []string
		for _, s := range l.Sessions {
			handles = append(handles, s.Handle)
		}
		assert.Contains(t, handles, u.view.SID, "user %d: listed under %s", i, u.principal)
	}
}

// mintUsers writes n sessions straight into st, as an older Sidecar may
// have left them (every JSON kind, two in three with a principal, one
// with its idle expiry idle away, the rest an hour away), and returns
// them as users holding their cookies, with what the app must see.
func mintUsers(t *testing.T, st sessions.Store, n int, idle time.Duration) []*migrateUser {
	t.Helper()
	signer, err := sessions.NewSigner([][]byte{[]byte(cookieSecret)})
	require.NoError(t, err)
	now := time.Now().Truncate(time.Millisecond)
	users := make([]*migrateUser, n)
	for i := range users {
		tok, err := sessions.NewToken()
		require.NoError(t, err)
		rec := &sessions.Record{
			Attrs:   map[string]json.RawMessage{"minted": json.RawMessage(migrateValues[i%len(migrateValues)])},
			Version: int64(1 + i%5), Created: now.Add(-time.Hour),
			IdleExp: now.Add(time.Hour), AbsExp: now.Add(2 * time.Hour), Handle: tok.SID(),
			ClientIP: "192.0.2.1", UserAgent: "minted/1.0",
		}
		if i%3 != 0 {
			rec.Principal = fmt.Sprintf("minted%d", i%4)
		}
		if i == 0 {
			rec.IdleExp = now.Add(idle)
		}
		require.NoError(t, st.Create(t.Context(), tok.Key(), rec))
		var data map[string]any
		raw, _ := json.Marshal(rec.Attrs)
		require.NoError(t, json.Unmarshal(raw, &data))
		users[i] = &migrateUser{
			cl: &client{t: t, cookie: signer.Sign(tok)}, principal: rec.Principal, key: tok.Key(),
			view: appView{SID: tok.SID(), Subject: rec.Principal, Data: data, Version: rec.Version},
		}
	}
	return users
}

// mintInFile is mintUsers into the bolt file at path, which no Sidecar
// holds.
func mintInFile(t *testing.T, path string, n int, idle time.Duration) []*migrateUser {
	t.Helper()
	s, err := boltstore.Open(path, boltstore.Options{SweepInterval: -1})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	return mintUsers(t, s, n, idle)
}

// snapshot reads every live session of the bolt file at path.
func snapshot(t *testing.T, path string) map[string]*sessions.Record {
	t.Helper()
	s, err := boltstore.Open(path, boltstore.Options{ReadOnly: true})
	require.NoError(t, err)
	defer func() { require.NoError(t, s.Close()) }()
	out := map[string]*sessions.Record{}
	require.NoError(t, s.Each(t.Context(), func(key string, rec *sessions.Record, err error) error {
		out[key] = rec
		return err
	}))
	return out
}

// assertCopied checks that Redis holds each record of want as it was, and
// that Redis will drop it at its expiry (its TTL, within a second).
func assertCopied(t *testing.T, rs *redistest.Server, want map[string]*sessions.Record) {
	t.Helper()
	client := rs.Client(t)
	target := redisstore.New(client, redisstore.Options{})
	for key, rec := range want {
		got, err := target.Load(t.Context(), key, nil)
		require.NoError(t, err, "a migrated session")
		storetest.AssertRecord(t, rec, got)
		ttl, err := client.PTTL(t.Context(), "sidecar:s:"+key).Result()
		require.NoError(t, err)
		assert.InDelta(t, time.Until(rec.Expiry()).Seconds(), ttl.Seconds(), 1, "Redis drops it at its expiry")
	}
}

// migrateCmd runs `sidecar store migrate` and returns its output, failing
// the test unless it exits with want.
func migrateCmd(t *testing.T, want int, from, to, journal string) string {
	t.Helper()
	out, code := runSidecar(t, nil, "store", "migrate", "--from", from, "--to", to, "--journal", journal)
	require.Equal(t, want, code, "sidecar store migrate:\n%s", out)
	return out
}

// summaryLine is the summary `sidecar store migrate` prints.
func summaryLine(read, copied, existing, journaled int) string {
	return fmt.Sprintf("%d read: %d copied, %d already in the target, 0 expired, %d in the journal, 0 failed\n",
		read, copied, existing, journaled)
}

// lastLine is the last line of out.
func lastLine(out string) string {
	out = strings.TrimSuffix(out, "\n")
	return out[strings.LastIndexByte(out, '\n')+1:] + "\n"
}

// anonymous reports whether cl's next request at base has no session.
func anonymous(t *testing.T, cl *client, base string) bool {
	t.Helper()
	r := cl.do(base, "/whoami", nil)
	requireOK(t, r, "whoami")
	return r.View.New
}

// TestMigrateBoltToRedis follows docs/migrate.md from one box's bolt file
// to Redis, under a light load (4 clients, each logged in through Sidecar,
// a read or a write every 20ms) that runs throughout: the
// migration refused while the bolt Sidecar holds the file; the Sidecar
// stopped (its load gets refused connections from then on); `sidecar
// store migrate`; Sidecar started on Redis at the same address; a second
// pass while it serves. Every live session survives with its data,
// version, expiry (Redis drops it when the original would have expired)
// and principal (the admin API lists it), its cookie still works, an
// expired one is not copied, the second pass copies nothing and does not
// bring back sessions revoked on Redis, and the load never saw a session
// or an acknowledged write lost.
func TestMigrateBoltToRedis(t *testing.T) {
	app := startApp(t, "app")
	rs := redistest.Start(t)
	addr, adminAddr := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	db, journal := filepath.Join(dir, "sessions.db"), filepath.Join(dir, "migrate.journal")
	ups := []upstreamSpec{{Name: "app", URL: app.URL()}}
	boltSpec := sidecarSpec{Listen: addr, Upstreams: ups, Set: map[string]any{"store.type": "bolt", "store.bolt.path": db}}
	redisSpec := sidecarSpec{Listen: addr, Upstreams: ups, Redis: rs.Addr(),
		Set: map[string]any{"admin.listen": adminAddr, "admin.token": adminTestAuth}}
	redisCfg := writeConfig(t, redisSpec.yaml(t))

	old := startSidecarProc(t, boltSpec)
	base := old.URL()
	load := startLoad(t, base, loadOptions{Clients: 4, Pace: 20 * time.Millisecond})
	load.progress(20)
	out := migrateCmd(t, 1, old.cfgPath, redisCfg, journal)
	assert.Contains(t, out, "is in use, most likely by a running Sidecar: stop it first")

	// Stop the bolt Sidecar: what it answered is in the file. Add sessions
	// an older Sidecar may have left: an expired one, and twelve more, one
	// of them a minute from its idle expiry.
	old.stop()
	expired := mintInFile(t, db, 1, -time.Minute)[0]
	users := mintInFile(t, db, 12, time.Minute)
	want := snapshot(t, db)
	require.NotContains(t, want, expired.key)
	require.Len(t, want, len(users)+len(load.clients))

	out = migrateCmd(t, 0, old.cfgPath, redisCfg, journal)
	assert.Equal(t, summaryLine(len(want), len(want), 0, 0), lastLine(out))
	assertCopied(t, rs, want)

	sc := startSidecarProc(t, redisSpec)
	load.progress(20)
	api, err := admin.NewClient(adminAddr, []byte(adminTestAuth), nil)
	require.NoError(t, err)
	defer api.CloseIdleConnections()
	n, err := api.RevokePrincipal(t.Context(), "minted1") // log out everywhere, on Redis
	require.NoError(t, err)
	require.Equal(t, 2, n, "minted1's sessions")

	out = migrateCmd(t, 0, old.cfgPath, redisCfg, journal)
	assert.Equal(t, summaryLine(len(want), 0, 0, len(want)), lastLine(out), "the second pass, under the load")
	load.progress(20)

	var kept []*migrateUser
	for _, u := range users {
		if u.principal == "minted1" {
			assert.True(t, anonymous(t, u.cl, sc.URL()), "a session revoked on Redis stays revoked")
		} else {
			kept = append(kept, u)
		}
	}
	checkUsers(t, sc.URL(), api, kept)
	assert.True(t, anonymous(t, expired.cl, sc.URL()), "the expired session was not copied")

	stats := load.Stop()
	for _, f := range stats.Failures {
		assert.Equal(t, "transport", f.Cause, "the load's only failures are refused connections while no Sidecar listened: %s", f)
	}
	assert.Empty(t, load.verifySessions(), "every load client still has its session and its last write")
	t.Logf("load: %s", stats)
}

// TestMigrateRedisToRedis follows docs/migrate.md between two Redis
// deployments without a stop: a first pass while the source Sidecar
// serves; the switch; a second pass that copies the sessions created in
// between. It also pins the documented cost: a write made on the source
// to a session the first pass had copied, before the switch, is lost.
func TestMigrateRedisToRedis(t *testing.T) {
	app := newApp(t, "app")
	a, b := redistest.Start(t), redistest.Start(t)
	addr, adminAddr := freeAddr(t), freeAddr(t)
	journal := filepath.Join(t.TempDir(), "migrate.journal")
	ups := []upstreamSpec{{Name: "app", URL: app.URL}}
	srcSpec := sidecarSpec{Listen: addr, Upstreams: ups, Redis: a.Addr()}
	dstSpec := sidecarSpec{Listen: addr, Upstreams: ups, Redis: b.Addr(),
		Set: map[string]any{"admin.listen": adminAddr, "admin.token": adminTestAuth}}
	srcCfg, dstCfg := writeConfig(t, srcSpec.yaml(t)), writeConfig(t, dstSpec.yaml(t))

	old := startSidecarProc(t, srcSpec)
	base := old.URL()
	users := loginUsers(t, base, 12)
	out := migrateCmd(t, 0, srcCfg, dstCfg, journal)
	assert.Equal(t, summaryLine(12, 12, 0, 0), lastLine(out), "the first pass, while the source serves")

	users = append(users, loginUsers(t, base, 3)...)
	requireOK(t, users[0].cl.do(base, "/set?k=late&v=1", nil), "a write after the first pass")
	old.stop()
	sc := startSidecarProc(t, dstSpec)
	out = migrateCmd(t, 0, srcCfg, dstCfg, journal)
	assert.Equal(t, summaryLine(15, 3, 0, 12), lastLine(out), "the second pass, after the switch")

	api, err := admin.NewClient(adminAddr, []byte(adminTestAuth), nil)
	require.NoError(t, err)
	defer api.CloseIdleConnections()
	checkUsers(t, sc.URL(), api, users) // users[0] as the first pass copied it: "late" is lost
}
