package sessions_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

// withHeader gives the harness Manager a header signer with the given
// budget and a max_bytes that does not get in its way.
func withHeader(t *testing.T, budget int) func(*sessions.Options) {
	return func(o *sessions.Options) {
		h, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte("header-secret-0123456789abcdefghijklmnop"),
			MaxBytes: budget, Clock: o.Clock})
		require.NoError(t, err)
		o.Header = h
		o.MaxBytes = 1 << 20
	}
}

// fill is a patch that sets attribute k to a string of n bytes.
func fill(k string, n int) string { return `{"` + k + `":"` + strings.Repeat("x", n) + `"}` }

// commitErr commits ch to the session under cookie and checks that an
// error leaves it exactly as it was.
func (h *harness) commitErr(t *testing.T, m *sessions.Manager, cookie string, ch sessions.Change) error {
	t.Helper()
	s := h.load(t, cookie)
	before := *s.Record()
	err := m.Commit(context.Background(), s, &ch)
	if err != nil {
		assert.Equal(t, sessions.CookieKeep, s.CookieOp())
		after := h.load(t, cookie).Record()
		assert.Equal(t, before.Attrs, after.Attrs, "unchanged")
		assert.Equal(t, before.Principal, after.Principal)
		assert.Equal(t, before.Version, after.Version)
	}
	return err
}

// TestHeaderBudgetRefusesWrites is issue 9 item 3: a write whose header
// would pass headers.max_bytes is refused like a max_bytes overflow
// instead of locking the user out of the app server.
func TestHeaderBudgetRefusesWrites(t *testing.T) {
	h := newHarness(t, withHeader(t, 1500))
	hs := h.opts.Header
	cookie := h.login(t, `{"user":"ann"}`)
	for name, ch := range map[string]sessions.Change{
		"patch":               {Patches: []string{fill("big", 1200)}},
		"patch by growth":     {Patches: []string{fill("b1", 600), fill("b2", 600)}},
		"patch on regenerate": {Patches: []string{fill("big", 1200)}, Action: sessions.ActionRegenerate},
		"principal":           {Principal: principalOf(strings.Repeat("p", 500)), Patches: []string{fill("big", 600)}},
	} {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, h.commitErr(t, h.m, cookie, ch), sessions.ErrTooLarge)
		})
	}
	t.Run("create", func(t *testing.T) {
		s := h.load(t, "")
		err := h.m.Commit(context.Background(), s, &sessions.Change{Patches: []string{fill("big", 1200)}})
		require.ErrorIs(t, err, sessions.ErrTooLarge)
		assert.Contains(t, err.Error(), "headers.max_bytes 1500")
		assert.Nil(t, s.Record())
		assert.Equal(t, sessions.CookieKeep, s.CookieOp(), "no session, no cookie")
	})
	t.Run("up to the budget", func(t *testing.T) {
		n := 0
		for {
			s := h.load(t, cookie)
			err := h.m.Commit(context.Background(), s, &sessions.Change{Patches: []string{fill("big", n+1)}})
			if err != nil {
				require.ErrorIs(t, err, sessions.ErrTooLarge)
				break
			}
			n++
		}
		s := h.load(t, cookie)
		assert.Equal(t, strings.Repeat("x", n), attrs(t, s)["big"])
		assert.LessOrEqual(t, hs.Len(s.Record()), 1500)
		assert.Greater(t, hs.Len(s.Record()), 1500-8, "the last accepted write is within a few bytes of the budget")
		tok, omitted, err := hs.SignFit(s, "0123456789abcdef0123456789abcdef")
		require.NoError(t, err)
		assert.False(t, omitted)
		assert.LessOrEqual(t, len(tok), 1500)
	})
}

func TestPrincipalLimit(t *testing.T) {
	h := newHarness(t, nil)
	cookie := h.login(t, `{"user":"ann"}`)
	long := strings.Repeat("p", sessions.MaxPrincipalBytes+1)
	err := h.commitErr(t, h.m, cookie, sessions.Change{Principal: &long})
	require.ErrorIs(t, err, sessions.ErrTooLarge)
	assert.Contains(t, err.Error(), "principal of 513 bytes (limit 512)")

	s := h.load(t, "")
	require.ErrorIs(t, h.m.Commit(context.Background(), s, &sessions.Change{Principal: &long}), sessions.ErrTooLarge)
	assert.Nil(t, s.Record())

	max := long[1:]
	s = h.load(t, cookie)
	require.NoError(t, h.m.Commit(context.Background(), s, &sessions.Change{Principal: &max}))
	assert.Equal(t, max, h.load(t, cookie).Record().Principal)
}

// TestOverLimitSessionStaysWritable: sessions written under a larger
// max_bytes (the old default of 8192) or before the header budget must
// not become unwritable: a write that does not grow them is accepted, one
// that grows them is refused, and logout always works.
func TestOverLimitSessionStaysWritable(t *testing.T) {
	for name, mod := range map[string]func(*sessions.Options){
		"max_bytes":     func(o *sessions.Options) { o.MaxBytes = 1000 },
		"header budget": withHeader(t, 1200),
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, func(o *sessions.Options) { o.MaxBytes = 1 << 20 })
			cookie := h.login(t, `{"a":"`+strings.Repeat("a", 1000)+`","b":"`+strings.Repeat("b", 200)+`"}`)
			strict := h.manager(t, mod)

			grow := sessions.Change{Patches: []string{`{"c":1}`}}
			require.ErrorIs(t, h.commitErr(t, strict, cookie, grow), sessions.ErrTooLarge)

			same := sessions.Change{Patches: []string{`{"b":"` + strings.Repeat("B", 200) + `"}`}}
			require.NoError(t, h.commitErr(t, strict, cookie, same))
			assert.Equal(t, strings.Repeat("B", 200), attrs(t, h.load(t, cookie))["b"])

			shrink := sessions.Change{Patches: []string{`{"b":"short"}`}}
			require.NoError(t, h.commitErr(t, strict, cookie, shrink))
			assert.Equal(t, "short", attrs(t, h.load(t, cookie))["b"])

			regrow := sessions.Change{Patches: []string{`{"b":"` + strings.Repeat("b", 100) + `"}`}}
			require.ErrorIs(t, h.commitErr(t, strict, cookie, regrow), sessions.ErrTooLarge, "shrinking once does not re-open the old room")

			p := "ann"
			require.NoError(t, h.commitErr(t, strict, cookie, sessions.Change{Principal: &p, Patches: []string{`{"a":null}`}}),
				"a write that shrinks it more than it grows it")

			s := h.load(t, cookie)
			require.NoError(t, strict.Commit(context.Background(), s, &sessions.Change{Action: sessions.ActionDestroy}))
			assert.Equal(t, sessions.OutcomeDestroyed, s.Outcome())
		})
	}
}

func principalOf(s string) *string { return &s }
