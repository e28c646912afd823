package sessions_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

// tombstoneStore wraps a real store with regenerate tombstones as the
// Store contract describes them, so that the Manager's side can be tested
// whatever the adapters implement: a Regenerate with a positive
// Delta.Tombstone leaves the old key marked until the tombstone expires on
// the store clock, and Load, Apply and Regenerate on a marked key return
// ErrReplaced. It records the Tombstone of every Regenerate.
type tombstoneStore struct {
	sessions.Store
	now func() time.Time

	mu         sync.Mutex
	dead       map[string]time.Time // old key -> when its tombstone expires
	tombstones []time.Duration
}

func newTombstoneStore(s sessions.Store, now func() time.Time) *tombstoneStore {
	return &tombstoneStore{Store: s, now: now, dead: map[string]time.Time{}}
}

func (s *tombstoneStore) replaced(key string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.dead[key]
	return ok && s.now().Before(exp)
}

func (s *tombstoneStore) Load(ctx context.Context, key string, t *sessions.Touch) (*sessions.Record, error) {
	if s.replaced(key) {
		return nil, sessions.ErrReplaced
	}
	return s.Store.Load(ctx, key, t)
}

func (s *tombstoneStore) Apply(ctx context.Context, key string, d *sessions.Delta) (int64, error) {
	if s.replaced(key) {
		return 0, sessions.ErrReplaced
	}
	return s.Store.Apply(ctx, key, d)
}

func (s *tombstoneStore) Regenerate(ctx context.Context, o, n string, d *sessions.Delta) (*sessions.Record, error) {
	if s.replaced(o) {
		return nil, sessions.ErrReplaced
	}
	rec, err := s.Store.Regenerate(ctx, o, n, d)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tombstones = append(s.tombstones, d.Tombstone)
	if err == nil && d.Tombstone > 0 {
		s.dead[o] = s.now().Add(d.Tombstone)
	}
	return rec, err
}

// Delete refuses to delete a tombstone, reporting ErrReplaced: the Store
// contract does not say this yet (see destroy in manager.go).
func (s *tombstoneStore) Delete(ctx context.Context, key string) error {
	if s.replaced(key) {
		return sessions.ErrReplaced
	}
	return s.Store.Delete(ctx, key)
}

// tombstoneHarness is the Manager harness on a store with tombstones.
func tombstoneHarness(t *testing.T, mod func(*sessions.Options)) (*harness, *tombstoneStore) {
	t.Helper()
	var ts *tombstoneStore
	h := newHarness(t, func(o *sessions.Options) {
		ts = newTombstoneStore(o.Store, o.Clock)
		o.Store = ts
		if mod != nil {
			mod(o)
		}
	})
	return h, ts
}

// regenerate logs in on cookie with a regenerate and returns the new
// cookie.
func (h *harness) regenerate(t *testing.T, cookie string) string {
	t.Helper()
	s := h.load(t, cookie)
	p := "ann"
	require.NoError(t, h.m.Commit(context.Background(), s, &sessions.Change{
		Patches: []string{`{"user":"ann"}`}, Principal: &p, Action: sessions.ActionRegenerate,
	}))
	require.Equal(t, sessions.OutcomeRegenerated, s.Outcome())
	return h.signer.Sign(s.Token())
}

func TestRegeneratePassesTombstone(t *testing.T) {
	for name, tc := range map[string]struct {
		ttl, want time.Duration
	}{
		"default":  {0, sessions.DefaultTombstoneTTL},
		"set":      {90 * time.Second, 90 * time.Second},
		"disabled": {-1, 0},
	} {
		t.Run(name, func(t *testing.T) {
			h, ts := tombstoneHarness(t, func(o *sessions.Options) { o.TombstoneTTL = tc.ttl })
			h.regenerate(t, h.login(t, `{"a":1}`))
			assert.Equal(t, []time.Duration{tc.want}, ts.tombstones)
		})
	}
}

// TestReplacedCookieCannotWrite pins issue 9 item 2: after a login that
// regenerates, a request still carrying the pre-login cookie is
// anonymous, never sets or clears the cookie (which would log the browser
// out of its new session), and has every write refused.
func TestReplacedCookieCannotWrite(t *testing.T) {
	empty := ""
	mallory := "mallory"
	for name, tc := range map[string]struct {
		ch      sessions.Change
		refused bool
	}{
		"read":               {sessions.Change{}, false},
		"empty patch":        {sessions.Change{Patches: []string{`{}`}}, false},
		"delete only":        {sessions.Change{Patches: []string{`{"flash":null}`}}, false},
		"clear principal":    {sessions.Change{Principal: &empty}, false},
		"patch":              {sessions.Change{Patches: []string{`{"beacon":1}`}}, true},
		"principal":          {sessions.Change{Principal: &mallory}, true},
		"regenerate":         {sessions.Change{Action: sessions.ActionRegenerate}, true},
		"login":              {sessions.Change{Patches: []string{`{"user":"mallory"}`}, Principal: &mallory, Action: sessions.ActionRegenerate}, true},
		"destroy":            {sessions.Change{Action: sessions.ActionDestroy}, true},
		"delete and destroy": {sessions.Change{Patches: []string{`{"user":null}`}, Action: sessions.ActionDestroy}, true},
	} {
		t.Run(name, func(t *testing.T) {
			h, _ := tombstoneHarness(t, nil)
			old := h.login(t, `{"cart":[1]}`)
			fresh := h.regenerate(t, old)

			s := h.load(t, old)
			assert.True(t, s.Replaced())
			assert.Nil(t, s.Record())
			assert.Empty(t, s.SID())
			assert.Equal(t, sessions.OutcomeReplaced, s.Outcome())

			calls := h.store.calls.Load()
			err := h.m.Commit(context.Background(), s, &tc.ch)
			if tc.refused {
				require.ErrorIs(t, err, sessions.ErrReplaced)
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, sessions.CookieKeep, s.CookieOp(), "a replaced cookie is never set or cleared")
			assert.Nil(t, s.Record(), "no session is created for it")
			assert.Equal(t, sessions.OutcomeReplaced, s.Outcome())
			assert.Equal(t, calls, h.store.calls.Load(), "a refused write costs no store call")

			got := h.load(t, fresh)
			assert.Equal(t, map[string]any{"cart": []any{1.0}, "user": "ann"}, attrs(t, got), "the new session is untouched")
			assert.Equal(t, "ann", got.Record().Principal)
		})
	}
}

// TestWriteInFlightAcrossRegenerate: a request that loaded the session
// before a login regenerated it, and writes after, is refused in the same
// way, and its write never reaches the new session.
func TestWriteInFlightAcrossRegenerate(t *testing.T) {
	for name, ch := range map[string]sessions.Change{
		"patch":        {Patches: []string{`{"beacon":1}`}},
		"second login": {Patches: []string{`{"user":"bob"}`}, Action: sessions.ActionRegenerate},
	} {
		t.Run(name, func(t *testing.T) {
			h, _ := tombstoneHarness(t, nil)
			old := h.login(t, `{"cart":[1]}`)
			slow := h.load(t, old)
			require.NotNil(t, slow.Record())
			fresh := h.regenerate(t, old)

			err := h.m.Commit(context.Background(), slow, &ch)
			require.ErrorIs(t, err, sessions.ErrReplaced)
			assert.True(t, slow.Replaced())
			assert.Nil(t, slow.Record())
			assert.Equal(t, sessions.OutcomeReplaced, slow.Outcome())
			assert.Equal(t, sessions.CookieKeep, slow.CookieOp())
			assert.Equal(t, map[string]any{"cart": []any{1.0}, "user": "ann"}, attrs(t, h.load(t, fresh)))
		})
	}
}

// TestReplacedAfterTombstoneExpires: once the tombstone is gone the old
// cookie is an unknown one again, as without tombstones.
func TestReplacedAfterTombstoneExpires(t *testing.T) {
	h, _ := tombstoneHarness(t, func(o *sessions.Options) { o.TombstoneTTL = time.Minute })
	old := h.login(t, `{"a":1}`)
	h.regenerate(t, old)
	require.True(t, h.load(t, old).Replaced())
	h.clock.Advance(time.Minute)
	s := h.load(t, old)
	assert.False(t, s.Replaced())
	assert.Equal(t, sessions.OutcomeNone, s.Outcome())
}

func TestReplacedClaim(t *testing.T) {
	h, _ := tombstoneHarness(t, nil)
	hdr, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte("header-secret-0123456789abcdefghijklmnop")})
	require.NoError(t, err)
	old := h.login(t, `{"a":1}`)
	fresh := h.regenerate(t, old)
	for name, tc := range map[string]struct {
		cookie        string
		replaced, new bool
	}{
		"replaced": {old, true, true},
		"live":     {fresh, false, false},
		"none":     {"", false, true},
	} {
		t.Run(name, func(t *testing.T) {
			jwt, err := hdr.Sign(h.load(t, tc.cookie), "req-1")
			require.NoError(t, err)
			c, err := hdr.ParseHeader(jwt)
			require.NoError(t, err)
			assert.Equal(t, tc.replaced, c.Replaced)
			assert.Equal(t, tc.new, c.New)
			if tc.replaced {
				assert.Empty(t, c.SID)
				assert.JSONEq(t, `{}`, string(c.Data))
				assert.Zero(t, c.Version)
			}
		})
	}
}
