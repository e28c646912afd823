package storetest

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
)

// Stall is what RunDeadlines needs to stall a store in the middle of a
// write.
type Stall struct {
	// New builds a fresh, empty store reading time from clock, as NewStore
	// does, whose writes (Create, Apply, Regenerate, Delete) call
	// beforeCommit with their context on the writing goroutine right before
	// they commit: the point after which a stalled write must no longer
	// take effect. The stores in this repository take it as
	// Options.BeforeCommit. Required.
	New func(t *testing.T, clock func() time.Time, beforeCommit func(ctx context.Context)) sessions.Store
	// Freeze, when set, freezes the store's backend (SIGSTOP on a
	// redis-server) so that the commit that follows is sent to a backend
	// that does not answer until Thaw: the write then sees its deadline
	// pass, and the backend gets the commit late. When nil (an in-process
	// store, whose stall is the writing goroutine's own), beforeCommit
	// blocks until the write's context is done instead.
	Freeze func(t *testing.T)
	// Thaw resumes a frozen backend and returns only once the backend has
	// processed everything sent to it while frozen, so that the suite then
	// sees the late commit's effect, if any. Required with Freeze.
	Thaw func(t *testing.T)
}

// stallBudgets are the deadlines a stalled write is given, tried in turn:
// a write that reaches its commit only after the deadline passed (a busy
// machine) proves nothing, so the case is run again with a longer one.
var stallBudgets = []time.Duration{300 * time.Millisecond, time.Second, 4 * time.Second}

// RunDeadlines proves the write deadline contract of sessions.Store with
// fault injection: for each kind of write, the store is stalled right
// before the commit while the write's deadline passes, then resumed. The
// write must fail with an error wrapping context.DeadlineExceeded, and
// after the store resumes, the session must be exactly as before (the
// same record, the same principal listing, no new key), for Create, Apply
// with a patch, Apply with a principal change, Regenerate with and without
// a tombstone, and Delete.
func RunDeadlines(t *testing.T, st Stall) {
	t.Helper()
	require.NotNil(t, st.New, "Stall.New is required")
	require.True(t, st.Freeze == nil || st.Thaw != nil, "Stall.Thaw is required with Freeze")
	tests := []struct {
		name string
		// write is the stalled write on the session under key. It
		// returns a key that must hold nothing afterwards ("" for none).
		write func(ctx context.Context, e *env, key string, rec *sessions.Record) (string, error)
		// create: the session is not created first; key is the key the
		// write creates.
		create bool
	}{
		{"Create", func(ctx context.Context, e *env, key string, rec *sessions.Record) (string, error) {
			return key, e.store.Create(ctx, key, cloneRecord(rec))
		}, true},
		{"ApplyPatch", func(ctx context.Context, e *env, key string, _ *sessions.Record) (string, error) {
			_, err := e.store.Apply(ctx, key, &sessions.Delta{
				Set:     map[string]json.RawMessage{"paid": raw(`true`)},
				Delete:  []string{"cart"},
				IdleExp: e.clock.Now().Add(idleTimeout),
			})
			return "", err
		}, false},
		{"ApplyPrincipal", func(ctx context.Context, e *env, key string, _ *sessions.Record) (string, error) {
			_, err := e.store.Apply(ctx, key, &sessions.Delta{Principal: ptr(randomPrincipal())})
			return "", err
		}, false},
		{"Regenerate", func(ctx context.Context, e *env, key string, _ *sessions.Record) (string, error) {
			newKey := randomKey()
			_, err := e.store.Regenerate(ctx, key, newKey, &sessions.Delta{
				Set:       map[string]json.RawMessage{"login": raw(`"alice"`)},
				Principal: ptr(randomPrincipal()),
				IdleExp:   e.clock.Now().Add(idleTimeout),
			})
			return newKey, err
		}, false},
		{"RegenerateWithTombstone", func(ctx context.Context, e *env, key string, _ *sessions.Record) (string, error) {
			newKey := randomKey()
			_, err := e.store.Regenerate(ctx, key, newKey, &sessions.Delta{Tombstone: time.Minute})
			return newKey, err
		}, false},
		{"Delete", func(ctx context.Context, e *env, key string, _ *sessions.Record) (string, error) {
			return "", e.store.Delete(ctx, key)
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/WithinDeadline", func(t *testing.T) {
			// The control: unstalled, with time to spare, the write
			// commits (a store must not refuse what is on time).
			clock := clocktest.New()
			e := &env{t: t, ctx: t.Context(), clock: clock, store: st.New(t, clock.Now, func(context.Context) {})}
			rec := e.record(randomPrincipal())
			key := randomKey()
			if !tt.create {
				require.NoError(t, e.store.Create(e.ctx, key, cloneRecord(rec)), "Create")
			}
			ctx, cancel := context.WithTimeout(e.ctx, 30*time.Second)
			defer cancel()
			_, err := tt.write(ctx, e, key, rec)
			require.NoError(t, err, "a write well within its deadline")
		})
		t.Run(tt.name, func(t *testing.T) {
			for i, budget := range stallBudgets {
				if runStalled(t, st, budget, tt.create, tt.write) {
					return
				}
				if i == len(stallBudgets)-1 {
					t.Fatalf("the write never reached its commit within %v: nothing was stalled", budget)
				}
				t.Logf("the write did not reach its commit within %v; trying a longer deadline", budget)
			}
		})
	}
}

// runStalled runs one stalled write with the given deadline and checks
// the outcome. It reports false, having checked nothing, if the write
// never reached its commit (its deadline passed before it got there).
func runStalled(t *testing.T, st Stall, budget time.Duration, create bool,
	write func(ctx context.Context, e *env, key string, rec *sessions.Record) (string, error),
) bool {
	t.Helper()
	var armed, fired atomic.Bool
	hook := func(ctx context.Context) {
		if !armed.CompareAndSwap(true, false) {
			return
		}
		fired.Store(true)
		if st.Freeze != nil {
			st.Freeze(t)
			return
		}
		<-ctx.Done()
	}
	clock := clocktest.New()
	e := &env{t: t, ctx: t.Context(), clock: clock, store: st.New(t, clock.Now, hook)}
	rec := e.record(randomPrincipal())
	key := randomKey()
	if !create {
		require.NoError(t, e.store.Create(e.ctx, key, cloneRecord(rec)), "Create")
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(e.ctx, budget)
	defer cancel()
	armed.Store(true)
	absent, err := write(ctx, e, key, rec)
	elapsed := time.Since(start)
	armed.Store(false)
	if st.Freeze != nil && fired.Load() {
		st.Thaw(t)
	}
	if !fired.Load() {
		require.Error(t, err, "the write succeeded without reaching the hook: does the store call beforeCommit?")
		require.ErrorIs(t, err, context.DeadlineExceeded, "the write failed before its commit, not for its deadline")
		return false
	}
	require.Error(t, err, "a write stalled past its deadline succeeded")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "the error of a write stalled past its deadline")
	for _, sentinel := range []error{sessions.ErrNotFound, sessions.ErrExists, sessions.ErrConflict, sessions.ErrTooLarge, sessions.ErrReplaced} {
		assert.NotErrorIs(t, err, sentinel)
	}
	assert.GreaterOrEqual(t, elapsed, budget, "the write gave up before its deadline")
	t.Logf("stalled write returned after %v (deadline %v)", elapsed.Round(time.Millisecond), budget)

	if create {
		e.assertGone(key)
		e.assertListed(rec.Principal)
		return true
	}
	assertRecord(t, rec, e.load(key))
	e.assertListed(rec.Principal, key)
	if absent != "" {
		e.assertGone(absent)
	}
	// The session still takes writes: nothing was left half-done.
	assert.Equal(t, rec.Version+1, e.apply(key, &sessions.Delta{}), "Apply after the stalled write")
	return true
}
