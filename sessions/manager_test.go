package sessions_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// countingStore wraps a real store, counting calls and optionally failing
// them: fault injection by wrapping, not mocking.
type countingStore struct {
	sessions.Store
	calls atomic.Int64
	fresh atomic.Int64 // Loads marked sessions.FreshRead
	fail  atomic.Bool  // return an outage error
	hang  atomic.Bool  // block until ctx is done
}

var errOutage = errors.New("connection refused")

func (s *countingStore) gate(ctx context.Context) error {
	s.calls.Add(1)
	if s.hang.Load() {
		<-ctx.Done()
		return ctx.Err()
	}
	if s.fail.Load() {
		return errOutage
	}
	return nil
}

func (s *countingStore) Load(ctx context.Context, key string, t *sessions.Touch) (*sessions.Record, error) {
	if sessions.IsFreshRead(ctx) {
		s.fresh.Add(1)
	}
	if err := s.gate(ctx); err != nil {
		return nil, err
	}
	return s.Store.Load(ctx, key, t)
}

func (s *countingStore) Create(ctx context.Context, key string, r *sessions.Record) error {
	if err := s.gate(ctx); err != nil {
		return err
	}
	return s.Store.Create(ctx, key, r)
}

func (s *countingStore) Apply(ctx context.Context, key string, d *sessions.Delta) (int64, error) {
	if err := s.gate(ctx); err != nil {
		return 0, err
	}
	return s.Store.Apply(ctx, key, d)
}

func (s *countingStore) Regenerate(ctx context.Context, o, n string, d *sessions.Delta) (*sessions.Record, error) {
	if err := s.gate(ctx); err != nil {
		return nil, err
	}
	return s.Store.Regenerate(ctx, o, n, d)
}

func (s *countingStore) Delete(ctx context.Context, key string) error {
	if err := s.gate(ctx); err != nil {
		return err
	}
	return s.Store.Delete(ctx, key)
}

type harness struct {
	m      *sessions.Manager
	opts   sessions.Options // m's
	store  *countingStore
	clock  *clocktest.Clock // shared by the Manager and the store
	signer *sessions.Signer
}

const secret = "cookie-secret-0123456789abcdefghijklmnop"

// storeTimeout is the harness Manager's StoreTimeout. The in-memory store
// answers in microseconds, but on a loaded machine running the race
// detector a call can stall past a bound of milliseconds; only a test
// about the timeout sets a short one, on a Manager of its own.
const storeTimeout = 10 * time.Second

func newHarness(t *testing.T, mod func(*sessions.Options)) *harness {
	t.Helper()
	clock := clocktest.New()
	mem := memory.New(memory.Options{Clock: clock.Now})
	t.Cleanup(func() { _ = mem.Close() })
	store := &countingStore{Store: mem}
	signer, err := sessions.NewSigner([][]byte{[]byte(secret)})
	require.NoError(t, err)
	opts := sessions.Options{
		Store: store, Signer: signer, Clock: clock.Now,
		IdleTimeout: 30 * time.Minute, AbsoluteTimeout: 2 * time.Hour, TouchInterval: time.Minute,
		MaxBytes: 256, StoreTimeout: storeTimeout,
	}
	if mod != nil {
		mod(&opts)
	}
	m, err := sessions.NewManager(opts)
	require.NoError(t, err)
	return &harness{m: m, opts: opts, store: store, clock: clock, signer: signer}
}

// manager returns another Manager on the harness's store, signer and
// clock, with the harness's options changed by mod: another instance of
// the same deployment.
func (h *harness) manager(t *testing.T, mod func(*sessions.Options)) *sessions.Manager {
	t.Helper()
	opts := h.opts
	mod(&opts)
	m, err := sessions.NewManager(opts)
	require.NoError(t, err)
	return m
}

// login creates a session holding attrs and returns its cookie value.
func (h *harness) login(t *testing.T, patch string) string {
	t.Helper()
	s, err := h.m.Load(context.Background(), "")
	require.NoError(t, err)
	require.NoError(t, h.m.Commit(context.Background(), s, &sessions.Change{Patches: []string{patch}}))
	require.Equal(t, sessions.OutcomeCreated, s.Outcome())
	require.Equal(t, sessions.CookieSet, s.CookieOp())
	return h.signer.Sign(s.Token())
}

func (h *harness) load(t *testing.T, cookie string) *sessions.Session {
	t.Helper()
	s, err := h.m.Load(context.Background(), cookie)
	require.NoError(t, err)
	return s
}

func attrs(t *testing.T, s *sessions.Session) map[string]any {
	t.Helper()
	require.NotNil(t, s.Record(), "expected a live session")
	var m map[string]any
	require.NoError(t, json.Unmarshal(sessions.EncodeAttrs(s.Record().Attrs), &m))
	return m
}

func TestLazyCreate(t *testing.T) {
	h := newHarness(t, nil)
	s := h.load(t, "")
	require.NoError(t, h.m.Commit(context.Background(), s, &sessions.Change{}))
	assert.Equal(t, sessions.OutcomeNone, s.Outcome())
	assert.Equal(t, sessions.CookieKeep, s.CookieOp())
	require.NoError(t, h.m.Commit(context.Background(), s, &sessions.Change{Patches: []string{`{}`, `{"a":null}`}}))
	assert.Equal(t, sessions.CookieKeep, s.CookieOp(), "a patch that leaves nothing creates nothing")
	assert.Zero(t, h.store.calls.Load(), "no store traffic for a request that writes nothing")

	cookie := h.login(t, `{"user":"ann"}`)
	s = h.load(t, cookie)
	assert.Equal(t, sessions.OutcomeLoaded, s.Outcome())
	assert.Equal(t, map[string]any{"user": "ann"}, attrs(t, s))
	assert.Equal(t, int64(1), s.Record().Version)
}

func TestPrincipalAloneCreates(t *testing.T) {
	h := newHarness(t, nil)
	s := h.load(t, "")
	p := "ann"
	require.NoError(t, h.m.Commit(context.Background(), s, &sessions.Change{Principal: &p}))
	assert.Equal(t, sessions.OutcomeCreated, s.Outcome())
	assert.Equal(t, "ann", h.load(t, h.signer.Sign(s.Token())).Record().Principal)
}

func TestWriteDeltas(t *testing.T) {
	h := newHarness(t, nil)
	cookie := h.login(t, `{"a":1,"b":{"x":1}}`)
	s := h.load(t, cookie)
	require.NoError(t, h.m.Commit(context.Background(), s, &sessions.Change{Patches: []string{`{"a":null,"b":{"y":2},"c":"new"}`}}))
	assert.Equal(t, sessions.OutcomeWritten, s.Outcome())
	assert.Equal(t, sessions.CookieKeep, s.CookieOp(), "an existing cookie is not re-sent on a write")
	got := h.load(t, cookie)
	assert.Equal(t, map[string]any{"b": map[string]any{"x": 1.0, "y": 2.0}, "c": "new"}, attrs(t, got))
	assert.Equal(t, int64(2), got.Record().Version)
	assert.Equal(t, attrs(t, s), attrs(t, got), "the in-memory view after Commit matches the store")
}

func TestBadCookieIsAnonymousWithoutLookup(t *testing.T) {
	h := newHarness(t, nil)
	cookie := h.login(t, `{"a":1}`)
	before := h.store.calls.Load()
	for _, v := range []string{"garbage", cookie[:len(cookie)-2] + "xx", cookie + "x"} {
		s := h.load(t, v)
		assert.Nil(t, s.Record())
		assert.True(t, s.BadCookie())
		assert.Empty(t, s.SID())
	}
	assert.Equal(t, before, h.store.calls.Load(), "a bad MAC costs no store lookup")
}

// TestErrorsLeaveSessionUntouched covers protocol §4's app errors.
func TestErrorsLeaveSessionUntouched(t *testing.T) {
	x := strings.Repeat("x", 100)
	for name, tc := range map[string]struct {
		ch   sessions.Change
		want error
	}{
		"patch not an object": {sessions.Change{Patches: []string{`{"a":2}`, `[1]`}}, sessions.ErrBadPatch},
		"patch invalid json":  {sessions.Change{Patches: []string{`{"a":`}}, sessions.ErrBadPatch},
		"too large":           {sessions.Change{Patches: []string{`{"big":"` + x + x + x + `"}`}}, sessions.ErrTooLarge},
		"too large by growth": {sessions.Change{Patches: []string{`{"b1":"` + x + x[:30] + `"}`, `{"b2":"` + x + x[:30] + `"}`}}, sessions.ErrTooLarge},
		"too large regenerate": {sessions.Change{Patches: []string{`{"big":"` + x + x + x + `"}`},
			Action: sessions.ActionRegenerate}, sessions.ErrTooLarge},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, nil)
			cookie := h.login(t, `{"a":1}`)
			s := h.load(t, cookie)
			before := *s.Record()
			err := h.m.Commit(context.Background(), s, &tc.ch)
			require.ErrorIs(t, err, tc.want)
			assert.Equal(t, sessions.CookieKeep, s.CookieOp())
			after := h.load(t, cookie).Record()
			assert.Equal(t, before.Attrs, after.Attrs)
			assert.Equal(t, before.Version, after.Version)
		})
	}
	t.Run("too large on create stores nothing", func(t *testing.T) {
		h := newHarness(t, nil)
		s := h.load(t, "")
		err := h.m.Commit(context.Background(), s, &sessions.Change{Patches: []string{`{"big":"` + strings.Repeat("x", 300) + `"}`}})
		assert.ErrorIs(t, err, sessions.ErrTooLarge)
		assert.Equal(t, sessions.CookieKeep, s.CookieOp())
		assert.Zero(t, h.store.calls.Load())
	})
}

func TestStoreUnavailable(t *testing.T) {
	for _, mode := range []string{"fail", "hang"} {
		t.Run(mode, func(t *testing.T) {
			h := newHarness(t, nil)
			cookie := h.login(t, `{"a":1}`)
			s := h.load(t, cookie)
			// The calls to the broken store go through a Manager whose
			// StoreTimeout cuts a hung call off soon; the harness's, with
			// a long one, sets up and checks.
			m := h.manager(t, func(o *sessions.Options) { o.StoreTimeout = 50 * time.Millisecond })
			if mode == "fail" {
				h.store.fail.Store(true)
			} else {
				h.store.hang.Store(true)
			}
			_, err := m.Load(context.Background(), cookie)
			assert.ErrorIs(t, err, sessions.ErrStoreUnavailable)
			err = m.Commit(context.Background(), s, &sessions.Change{Patches: []string{`{"a":2}`}})
			assert.ErrorIs(t, err, sessions.ErrStoreUnavailable)
			_, err = m.Load(context.Background(), "")
			assert.NoError(t, err, "a request without a cookie needs no store")

			h.store.fail.Store(false)
			h.store.hang.Store(false)
			assert.Equal(t, map[string]any{"a": 1.0}, attrs(t, h.load(t, cookie)), "nothing half-written")
		})
	}
}

func TestTimeouts(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		h := newHarness(t, nil)
		cookie := h.login(t, `{"a":1}`)
		h.clock.Advance(29 * time.Minute)
		require.NotNil(t, h.load(t, cookie).Record(), "a read slides the idle expiry")
		h.clock.Advance(29 * time.Minute)
		require.NotNil(t, h.load(t, cookie).Record())
		h.clock.Advance(31 * time.Minute)
		s := h.load(t, cookie)
		assert.Nil(t, s.Record())
		require.NoError(t, h.m.Commit(context.Background(), s, &sessions.Change{}))
		assert.Equal(t, sessions.CookieKeep, s.CookieOp(), "a dead cookie is left alone: it may be a straggler after a regenerate")
	})
	t.Run("absolute", func(t *testing.T) {
		h := newHarness(t, nil)
		cookie := h.login(t, `{"a":1}`)
		for range 4 {
			h.clock.Advance(25 * time.Minute)
			s := h.load(t, cookie)
			require.NotNil(t, s.Record())
			require.NoError(t, h.m.Commit(context.Background(), s, &sessions.Change{Patches: []string{`{"n":1}`}}))
		}
		h.clock.Advance(25 * time.Minute) // 2h05m after creation, idle only 25m
		assert.Nil(t, h.load(t, cookie).Record())
	})
	t.Run("touch throttled", func(t *testing.T) {
		h := newHarness(t, nil)
		cookie := h.login(t, `{"a":1}`)
		first := h.load(t, cookie).Record().IdleExp
		h.clock.Advance(30 * time.Second)
		assert.Equal(t, first, h.load(t, cookie).Record().IdleExp, "no touch within the interval")
		h.clock.Advance(31 * time.Second)
		assert.True(t, h.load(t, cookie).Record().IdleExp.After(first), "touched once the interval passed")
	})
}

func TestRegenerate(t *testing.T) {
	h := newHarness(t, nil)
	cookie := h.login(t, `{"cart":[1]}`)
	s := h.load(t, cookie)
	p := "ann"
	require.NoError(t, h.m.Commit(context.Background(), s, &sessions.Change{
		Patches: []string{`{"user":"ann"}`}, Action: sessions.ActionRegenerate, Principal: &p,
	}))
	assert.Equal(t, sessions.OutcomeRegenerated, s.Outcome())
	assert.Equal(t, sessions.CookieSet, s.CookieOp())
	fresh := h.signer.Sign(s.Token())
	assert.NotEqual(t, cookie, fresh)
	assert.Nil(t, h.load(t, cookie).Record(), "the old cookie stops working at once")
	got := h.load(t, fresh)
	assert.Equal(t, map[string]any{"cart": []any{1.0}, "user": "ann"}, attrs(t, got))
	assert.Equal(t, "ann", got.Record().Principal)
}

func TestDestroy(t *testing.T) {
	h := newHarness(t, nil)
	cookie := h.login(t, `{"a":1}`)
	s := h.load(t, cookie)
	require.NoError(t, h.m.Commit(context.Background(), s, &sessions.Change{
		Patches: []string{`{"b":2}`}, Action: sessions.ActionDestroy,
	}))
	assert.Equal(t, sessions.OutcomeDestroyed, s.Outcome())
	assert.Equal(t, sessions.CookieExpire, s.CookieOp())
	assert.Nil(t, h.load(t, cookie).Record())
}

// TestLateWriteAfterDestroy pins protocol §4: a write that lands after a
// logout never brings the session back.
func TestLateWriteAfterDestroy(t *testing.T) {
	h := newHarness(t, nil)
	cookie := h.login(t, `{"a":1}`)
	slow := h.load(t, cookie)
	logout := h.load(t, cookie)
	require.NoError(t, h.m.Commit(context.Background(), logout, &sessions.Change{Action: sessions.ActionDestroy}))
	require.NoError(t, h.m.Commit(context.Background(), slow, &sessions.Change{Patches: []string{`{"a":2}`}}))
	assert.Equal(t, sessions.OutcomeGone, slow.Outcome())
	assert.Equal(t, sessions.CookieKeep, slow.CookieOp())
	assert.Nil(t, h.load(t, cookie).Record())
}

func TestOldSecretReissues(t *testing.T) {
	h := newHarness(t, nil)
	cookie := h.login(t, `{"a":1}`)
	rotated, err := sessions.NewSigner([][]byte{[]byte("new-cookie-secret-0123456789abcdefghijk"), []byte(secret)})
	require.NoError(t, err)
	m := h.manager(t, func(o *sessions.Options) { o.Signer = rotated })
	s, err := m.Load(context.Background(), cookie)
	require.NoError(t, err)
	require.NotNil(t, s.Record())
	require.NoError(t, m.Commit(context.Background(), s, &sessions.Change{}))
	assert.Equal(t, sessions.CookieSet, s.CookieOp())
	_, old, err := rotated.Verify(rotated.Sign(s.Token()))
	require.NoError(t, err)
	assert.False(t, old, "the re-issued cookie is under the current secret")
}

// TestIdentifyWithRotatedSigner: the same Manager verifies with the
// signer it is given, so a caller can rotate secrets without a new
// Manager, and a cookie that only an older secret verifies is re-issued.
func TestIdentifyWithRotatedSigner(t *testing.T) {
	h := newHarness(t, nil)
	cookie := h.login(t, `{"a":1}`)
	rotated, err := sessions.NewSigner([][]byte{[]byte("new-cookie-secret-0123456789abcdefghijk"), []byte(secret)})
	require.NoError(t, err)
	s := h.m.IdentifyWith(rotated, cookie)
	require.False(t, s.BadCookie())
	require.NoError(t, h.m.Fetch(context.Background(), s))
	require.NotNil(t, s.Record())
	require.NoError(t, h.m.Commit(context.Background(), s, &sessions.Change{}))
	assert.Equal(t, sessions.CookieSet, s.CookieOp(), "re-issued under the new first secret")

	dropped, err := sessions.NewSigner([][]byte{[]byte("new-cookie-secret-0123456789abcdefghijk")})
	require.NoError(t, err)
	assert.True(t, h.m.IdentifyWith(dropped, cookie).BadCookie(), "a signer without the old secret refuses its cookie")
	assert.False(t, h.m.Identify(cookie).BadCookie(), "Identify keeps the Manager's own signer")
}

func TestNewManagerValidates(t *testing.T) {
	signer, err := sessions.NewSigner([][]byte{[]byte(secret)})
	require.NoError(t, err)
	store := memory.New(memory.Options{})
	t.Cleanup(func() { _ = store.Close() })
	for name, o := range map[string]sessions.Options{
		"no store":        {Signer: signer},
		"no signer":       {Store: store},
		"touch >= idle":   {Store: store, Signer: signer, IdleTimeout: time.Minute, TouchInterval: time.Minute},
		"absolute < idle": {Store: store, Signer: signer, IdleTimeout: time.Hour, AbsoluteTimeout: time.Minute},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := sessions.NewManager(o)
			assert.Error(t, err)
		})
	}
}

// TestStragglerKeepsNewCookie pins a review finding: a request still
// carrying the pre-login cookie must not expire the cookie the login just
// set (same name, path and domain). This is the behaviour without
// tombstones (session.tombstone_ttl: 0), where the old session is simply
// gone; with them see TestReplacedCookieCannotWrite.
func TestStragglerKeepsNewCookie(t *testing.T) {
	h := newHarness(t, func(o *sessions.Options) { o.TombstoneTTL = -1 })
	cookie := h.login(t, `{"a":1}`)
	straggler := h.load(t, cookie)
	login := h.load(t, cookie)
	require.NoError(t, h.m.Commit(context.Background(), login, &sessions.Change{Action: sessions.ActionRegenerate}))
	require.Equal(t, sessions.OutcomeRegenerated, login.Outcome())
	s := h.load(t, cookie)
	require.NoError(t, h.m.Commit(context.Background(), s, &sessions.Change{}))
	assert.Equal(t, sessions.CookieKeep, s.CookieOp(), "a read with the dead cookie leaves the cookie alone")
	require.NoError(t, h.m.Commit(context.Background(), straggler, &sessions.Change{Patches: []string{`{"b":2}`}}))
	assert.Equal(t, sessions.OutcomeGone, straggler.Outcome())
	assert.Equal(t, sessions.CookieKeep, straggler.CookieOp())
}

// TestDeleteOfAttributeSetSinceLoad pins a review finding: a null for an
// attribute the request never saw must still delete it (last writer wins).
func TestDeleteOfAttributeSetSinceLoad(t *testing.T) {
	h := newHarness(t, nil)
	cookie := h.login(t, `{"a":1}`)
	a := h.load(t, cookie)
	b := h.load(t, cookie)
	require.NoError(t, h.m.Commit(context.Background(), b, &sessions.Change{Patches: []string{`{"flag":true}`}}))
	require.NoError(t, h.m.Commit(context.Background(), a, &sessions.Change{Patches: []string{`{"flag":null}`}}))
	assert.Equal(t, sessions.OutcomeWritten, a.Outcome())
	assert.Equal(t, map[string]any{"a": 1.0}, attrs(t, h.load(t, cookie)))
}

func TestGuardVersionTurnsLostUpdateIntoConflict(t *testing.T) {
	h := newHarness(t, nil)
	cookie := h.login(t, `{"n":0}`)
	first, second := h.load(t, cookie), h.load(t, cookie)
	first.GuardVersion()
	second.GuardVersion()
	require.NoError(t, h.m.Commit(context.Background(), first, &sessions.Change{Patches: []string{`{"n":1}`}}))
	err := h.m.Commit(context.Background(), second, &sessions.Change{Patches: []string{`{"n":1}`}})
	require.ErrorIs(t, err, sessions.ErrConflict)
	got := h.load(t, cookie)
	assert.Equal(t, int64(2), got.Record().Version, "only the first write landed")
	assert.Equal(t, map[string]any{"n": 1.0}, attrs(t, got))

	unguarded := h.load(t, cookie)
	require.NoError(t, h.m.Commit(context.Background(), h.load(t, cookie), &sessions.Change{Patches: []string{`{"x":1}`}}))
	require.NoError(t, h.m.Commit(context.Background(), unguarded, &sessions.Change{Patches: []string{`{"y":1}`}}),
		"without the guard, distinct attributes simply merge")
}

func TestIdentifyCostsNoStoreLookup(t *testing.T) {
	h := newHarness(t, nil)
	cookie := h.login(t, `{"a":1}`)
	before := h.store.calls.Load()
	s := h.m.Identify(cookie)
	assert.True(t, s.Verified())
	assert.Len(t, s.LockKey(), 64)
	assert.Nil(t, s.Record())
	assert.Equal(t, before, h.store.calls.Load())
	assert.Empty(t, h.m.Identify("forged").LockKey())
	require.NoError(t, h.m.Fetch(context.Background(), s))
	assert.NotNil(t, s.Record())
}

// A request holding its session's lock (GuardVersion) reads the stored
// session, never a cached copy that may predate the last holder's write;
// other requests may read a copy.
func TestGuardedFetchReadsFresh(t *testing.T) {
	h := newHarness(t, nil)
	cookie := h.login(t, `{"a":1}`)
	s := h.m.Identify(cookie)
	require.NoError(t, h.m.Fetch(context.Background(), s))
	assert.Zero(t, h.store.fresh.Load(), "an unguarded read")
	s = h.m.Identify(cookie)
	s.GuardVersion()
	require.NoError(t, h.m.Fetch(context.Background(), s))
	assert.EqualValues(t, 1, h.store.fresh.Load(), "the guarded read asked for the stored session")
	assert.False(t, sessions.IsFreshRead(context.Background()))
}
