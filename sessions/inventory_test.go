package sessions_test

import (
	"context"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// inventoryStore is what the operator methods run on: a store with an
// Inventory.
type inventoryStore interface {
	sessions.Store
	sessions.Inventory
}

// operatorEnv is a Manager over a memory store, for the operator methods.
type operatorEnv struct {
	m      *sessions.Manager
	signer *sessions.Signer
	clock  *clocktest.Clock
	mem    *memory.Store
}

func newOperatorEnv(t *testing.T, wrap func(inventoryStore) sessions.Store) *operatorEnv {
	t.Helper()
	clock := clocktest.New()
	mem := memory.New(memory.Options{Clock: clock.Now})
	t.Cleanup(func() { _ = mem.Close() })
	signer, err := sessions.NewSigner([][]byte{[]byte(secret)})
	require.NoError(t, err)
	var store sessions.Store = mem
	if wrap != nil {
		store = wrap(mem)
	}
	m, err := sessions.NewManager(sessions.Options{
		Store: store, Signer: signer, Clock: clock.Now,
		IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 2 * time.Hour, TouchInterval: time.Minute,
		StoreTimeout: storeTimeout,
	})
	require.NoError(t, err)
	return &operatorEnv{m: m, signer: signer, clock: clock, mem: mem}
}

// request runs one request with cookie from client ip and user agent ua
// whose response sends c, and returns its session and the cookie after it.
func (e *operatorEnv) request(t *testing.T, cookie, ip, ua string, c *sessions.Change) (*sessions.Session, string) {
	t.Helper()
	s := e.m.Identify(cookie)
	s.SetClient(netip.MustParseAddr(ip), ua)
	require.NoError(t, e.m.Fetch(context.Background(), s))
	require.NoError(t, e.m.Commit(context.Background(), s, c))
	if s.CookieOp() == sessions.CookieSet {
		cookie = e.signer.Sign(s.Token())
	}
	return s, cookie
}

// login logs principal p in from a new client and returns the session
// and its cookie.
func (e *operatorEnv) login(t *testing.T, p, ip, ua string) (*sessions.Session, string) {
	t.Helper()
	return e.request(t, "", ip, ua, &sessions.Change{Patches: []string{`{"user":"` + p + `"}`}, Principal: &p,
		Action: sessions.ActionRegenerate})
}

func TestCreateKeepsHandleAndClient(t *testing.T) {
	e := newOperatorEnv(t, nil)
	s, cookie := e.login(t, "ann", "::ffff:192.0.2.1", "Mozilla/5.0\x1b[2J")
	rec := s.Record()
	assert.Equal(t, s.SID(), rec.Handle, "the handle is the sid apps see")
	assert.Equal(t, "192.0.2.1", rec.ClientIP, "IPv4 as IPv4")
	assert.Equal(t, "Mozilla/5.0\uFFFD[2J", rec.UserAgent, "control characters replaced")

	// A login on the session regenerates it: a new handle, the same client.
	s2, _ := e.request(t, cookie, "198.51.100.2", "other", &sessions.Change{Action: sessions.ActionRegenerate})
	require.Equal(t, sessions.OutcomeRegenerated, s2.Outcome())
	assert.Equal(t, s2.SID(), s2.Record().Handle)
	assert.NotEqual(t, rec.Handle, s2.Record().Handle)
	assert.Equal(t, "192.0.2.1", s2.Record().ClientIP, "the client at creation carries over")
	stored, err := e.mem.Load(context.Background(), s2.Token().Key(), nil)
	require.NoError(t, err)
	assert.Equal(t, s2.Record().Handle, stored.Handle)
}

func TestCleanUserAgent(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	tests := []struct{ name, in, want string }{
		{"Plain", "curl/8.5.0", "curl/8.5.0"},
		{"Empty", "", ""},
		{"InvalidUTF8", "a\xffb", "a\uFFFDb"},
		{"Controls", "a\tb\nc\x7fd\u0085e", "a\uFFFDb\uFFFDc\uFFFDd\uFFFDe"},
		{"BidiOverride", "abc\u202Edef", "abc\uFFFDdef"},
		{"LongASCII", strings.Repeat("x", 300), strings.Repeat("x", sessions.MaxUserAgentBytes)},
		{"LongCutAtARune", long, strings.Repeat("é", sessions.MaxUserAgentBytes/2)},
		{"LongCutBeforeAWideRune", strings.Repeat("x", 255) + "日", strings.Repeat("x", 255)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sessions.CleanUserAgent(tt.in)
			assert.Equal(t, tt.want, got)
			assert.LessOrEqual(t, len(got), sessions.MaxUserAgentBytes)
			assert.True(t, utf8.ValidString(got))
		})
	}
	assert.Equal(t, "", sessions.ClientIP(netip.Addr{}))
	assert.Equal(t, "fe80::1", sessions.ClientIP(netip.MustParseAddr("fe80::1%eth0")), "no zone")
}

func TestListAndRevoke(t *testing.T) {
	e := newOperatorEnv(t, nil)
	ctx := context.Background()
	var cookies []string
	var handles []string
	for i, ua := range []string{"phone", "laptop", "tablet"} {
		s, c := e.login(t, "ann", "192.0.2."+string(rune('1'+i)), ua)
		cookies, handles = append(cookies, c), append(handles, s.SID())
		e.clock.Advance(time.Minute)
	}
	bob, bobCookie := e.login(t, "bob", "192.0.2.9", "bob's")

	infos, total, err := e.m.List(ctx, "ann")
	require.NoError(t, err)
	assert.Equal(t, 3, total)
	require.Len(t, infos, 3)
	for i, info := range infos {
		assert.Equal(t, handles[i], info.Handle, "oldest first")
		assert.Equal(t, "ann", info.Principal)
		assert.Equal(t, []string{"phone", "laptop", "tablet"}[i], info.UserAgent)
		assert.Equal(t, "192.0.2."+string(rune('1'+i)), info.ClientIP)
		assert.True(t, info.LastSeen.Equal(info.Created), "not seen since its creation")
		assert.True(t, info.IdleExp.Equal(info.Created.Add(30*time.Minute)))
		assert.True(t, info.AbsExp.Equal(info.Created.Add(2*time.Hour)))
	}

	// A touch moves LastSeen.
	e.clock.Advance(10 * time.Minute)
	e.request(t, cookies[0], "192.0.2.1", "phone", &sessions.Change{})
	infos, _, err = e.m.List(ctx, "ann")
	require.NoError(t, err)
	assert.True(t, infos[0].LastSeen.Equal(e.clock.Now()), "LastSeen %v, now %v", infos[0].LastSeen, e.clock.Now())

	c, err := e.m.Count(ctx)
	require.NoError(t, err)
	assert.Equal(t, sessions.Count{Live: 4}, c)

	require.NoError(t, e.m.RevokeHandle(ctx, handles[1]))
	assert.ErrorIs(t, e.m.RevokeHandle(ctx, handles[1]), sessions.ErrNotFound, "revoked already")
	assert.ErrorIs(t, e.m.RevokeHandle(ctx, "not-a-handle"), sessions.ErrNotFound)
	n, err := e.m.RevokePrincipal(ctx, "ann")
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	infos, total, err = e.m.List(ctx, "ann")
	require.NoError(t, err)
	assert.Empty(t, infos)
	assert.Zero(t, total)
	n, err = e.m.RevokePrincipal(ctx, "ann")
	require.NoError(t, err)
	assert.Zero(t, n, "nothing left to revoke")

	// A revoked cookie is anonymous, not replaced: its next write starts a
	// new session (a login works at once).
	for _, cookie := range cookies {
		s, next := e.request(t, cookie, "192.0.2.1", "phone", &sessions.Change{})
		assert.Nil(t, s.Record())
		assert.False(t, s.Replaced(), "a revoke is a logout, not a replacement")
		assert.Equal(t, sessions.OutcomeNone, s.Outcome())
		assert.Equal(t, cookie, next, "the cookie is left alone")
	}
	s, _ := e.login(t, "ann", "192.0.2.1", "phone")
	assert.Equal(t, sessions.OutcomeCreated, s.Outcome())

	// Bob was left alone.
	got, _ := e.request(t, bobCookie, "192.0.2.9", "bob's", &sessions.Change{})
	require.NotNil(t, got.Record())
	assert.Equal(t, bob.SID(), got.SID())
}

// regeneratingStore moves the first session Delete is asked for to a new
// key (with a tombstone) just before deleting it: a login racing a
// revoke.
type regeneratingStore struct {
	inventoryStore
	moved atomic.Bool
}

func (s *regeneratingStore) Delete(ctx context.Context, key string) error {
	if s.moved.CompareAndSwap(false, true) {
		tok, err := sessions.NewToken()
		if err != nil {
			return err
		}
		if _, err := s.Regenerate(ctx, key, tok.Key(), &sessions.Delta{Handle: tok.SID(), Tombstone: time.Minute}); err != nil {
			return err
		}
	}
	return s.inventoryStore.Delete(ctx, key)
}

func TestRevokePrincipalFollowsARegenerate(t *testing.T) {
	e := newOperatorEnv(t, func(s inventoryStore) sessions.Store { return &regeneratingStore{inventoryStore: s} })
	e.login(t, "ann", "192.0.2.1", "phone")
	n, err := e.m.RevokePrincipal(context.Background(), "ann")
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the session, under the key the regenerate moved it to")
	infos, _, err := e.m.List(context.Background(), "ann")
	require.NoError(t, err)
	assert.Empty(t, infos)
}

func TestRevokeHandleRacingARegenerate(t *testing.T) {
	e := newOperatorEnv(t, func(s inventoryStore) sessions.Store { return &regeneratingStore{inventoryStore: s} })
	s, _ := e.login(t, "ann", "192.0.2.1", "phone")
	err := e.m.RevokeHandle(context.Background(), s.SID())
	assert.ErrorIs(t, err, sessions.ErrReplaced, "the handle's session moved: list again")
}

func TestOperatorMethodsNeedAnInventory(t *testing.T) {
	h := newHarness(t, nil) // its counting store hides the Inventory
	_, err := h.m.Count(context.Background())
	assert.ErrorIs(t, err, sessions.ErrNoInventory)
	assert.ErrorIs(t, h.m.RevokeHandle(context.Background(), strings.Repeat("a", 32)), sessions.ErrNoInventory)
}
