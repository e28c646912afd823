package redisstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
	redisstore "github.com/sidecarproxy/sidecar/stores/redis"
)

// faultyClient wraps a real client so that a test can act around each
// script call (EVALSHA or EVAL) the store makes, picked by the Redis key it
// targets: fault injection without a fake Redis. Everything else goes
// straight to the real client.
type faultyClient struct {
	redis.UniversalClient
	// around, when set, makes each script call on key: call sends it for
	// real. Set it between store calls, from the test's goroutine.
	around func(ctx context.Context, key string, args []any, call func(context.Context) *redis.Cmd) *redis.Cmd
}

func (c *faultyClient) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	return c.script(ctx, keys, args, func(ctx context.Context) *redis.Cmd {
		return c.UniversalClient.EvalSha(ctx, sha1, keys, args...)
	})
}

func (c *faultyClient) Eval(ctx context.Context, script string, keys []string, args ...any) *redis.Cmd {
	return c.script(ctx, keys, args, func(ctx context.Context) *redis.Cmd {
		return c.UniversalClient.Eval(ctx, script, keys, args...)
	})
}

func (c *faultyClient) script(ctx context.Context, keys []string, args []any, call func(context.Context) *redis.Cmd) *redis.Cmd {
	if c.around == nil || len(keys) == 0 {
		return call(ctx)
	}
	return c.around(ctx, keys[0], args, call)
}

// failedCmd returns a script command that failed with err.
func failedCmd(ctx context.Context, err error) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(err)
	return cmd
}

// expiringCtx is a context whose deadline passes when the test calls
// expire rather than at a time on the clock, so that the test decides
// what is under way when it ends. It has no Deadline and no values.
type expiringCtx struct {
	context.Context // context.Background()
	done            chan struct{}
	once            sync.Once
}

func newExpiringCtx() *expiringCtx {
	return &expiringCtx{Context: context.Background(), done: make(chan struct{})}
}

func (c *expiringCtx) Done() <-chan struct{} { return c.done }

func (c *expiringCtx) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

func (c *expiringCtx) expire() { c.once.Do(func() { close(c.done) }) }

// sessionKeyOf is the Redis key of s's session under key.
func sessionKeyOf(s *redisstore.Store, key string) string { return s.Prefix() + "s:" + key }

// indexKeyOf is the Redis key of s's index of principal p.
func indexKeyOf(s *redisstore.Store, p string) string {
	sum := sha256.Sum256([]byte(p))
	return s.Prefix() + "p:" + hex.EncodeToString(sum[:])
}

// Regression test for a half-written Apply: the principal index update was
// pipelined with the session write and its error checked first, so when
// the index update failed (here the index key holds a string: WRONGTYPE;
// on a cluster, the index's node failing) Apply reported the failure yet
// the write was kept: the client got a 503 for a committed write, and the
// session was not listed under its new principal. A failed index update
// must fail the call having written nothing.
func testNoHalfWriteOnIndexFailure(t *testing.T, client redis.UniversalClient) {
	ctx := t.Context()
	// breakIndex makes every write to p's index fail with WRONGTYPE.
	breakIndex := func(t *testing.T, s *redisstore.Store, p string) {
		t.Helper()
		require.NoError(t, client.Set(ctx, indexKeyOf(s, p), "not a sorted set", 0).Err())
	}
	assertStoreFailure := func(t *testing.T, err error) {
		t.Helper()
		require.Error(t, err)
		assert.ErrorContains(t, err, "WRONGTYPE")
		for _, sentinel := range []error{sessions.ErrNotFound, sessions.ErrExists, sessions.ErrConflict, sessions.ErrTooLarge} {
			assert.NotErrorIs(t, err, sentinel)
		}
	}

	tests := []struct {
		name string
		// fresh: Apply through a store that has seen no record, which
		// does not know how long a session may live.
		fresh bool
	}{
		{"Apply", false},
		{"ApplyOnFreshStore", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktest.New()
			s := newStore(t, client, clock)
			key := randomKey()
			rec := record(clock, "p")
			require.NoError(t, s.Create(ctx, key, rec))
			writer := s
			if tt.fresh {
				writer = redisstore.New(client, redisstore.Options{Prefix: s.Prefix(), Clock: clock.Now})
			}
			breakIndex(t, s, "q")
			hash, err := client.HGetAll(ctx, sessionKeyOf(s, key)).Result()
			require.NoError(t, err)

			_, err = writer.Apply(ctx, key, &sessions.Delta{
				Set:       map[string]json.RawMessage{"user": json.RawMessage(`{"id": 8}`), "new": json.RawMessage(`1`)},
				Delete:    []string{"cart"},
				Principal: ptr("q"),
				IdleExp:   clock.Now().Add(time.Hour),
				MaxBytes:  1000,
			})
			assertStoreFailure(t, err)

			after, err := client.HGetAll(ctx, sessionKeyOf(s, key)).Result()
			require.NoError(t, err)
			assert.Equal(t, hash, after, "a failed Apply changed the session hash")
			got, err := s.Load(ctx, key, nil)
			require.NoError(t, err)
			assert.EqualValues(t, 1, got.Version)
			assert.Equal(t, "p", got.Principal)
			assert.Equal(t, rec.Attrs, got.Attrs)
			assert.True(t, rec.IdleExp.Equal(got.IdleExp), "IdleExp %v, want %v", got.IdleExp, rec.IdleExp)
			keys, err := s.ByPrincipal(ctx, "p")
			require.NoError(t, err)
			assert.Equal(t, []string{key}, keys)
		})
	}

	t.Run("Create", func(t *testing.T) {
		clock := clocktest.New()
		s := newStore(t, client, clock)
		breakIndex(t, s, "q")
		key := randomKey()
		assertStoreFailure(t, s.Create(ctx, key, record(clock, "q")))
		assert.Empty(t, keysOf(t, client, s, key), "a failed Create stored the session")
	})

	t.Run("Regenerate", func(t *testing.T) {
		clock := clocktest.New()
		s := newStore(t, client, clock)
		oldKey, newKey := randomKey(), randomKey()
		require.NoError(t, s.Create(ctx, oldKey, record(clock, "p")))
		breakIndex(t, s, "q")
		_, err := s.Regenerate(ctx, oldKey, newKey, &sessions.Delta{Principal: ptr("q")})
		assertStoreFailure(t, err)
		assert.Empty(t, keysOf(t, client, s, newKey), "a failed Regenerate stored the session unindexed")
		got, err := s.Load(ctx, oldKey, nil)
		require.NoError(t, err, "a failed Regenerate must leave the old session intact")
		assert.Equal(t, "p", got.Principal)
		assert.EqualValues(t, 1, got.Version)
	})
}

// Regression test for a logout at login: Regenerate stored the session
// under the new key with the caller's context, so when its deadline passed
// (a Redis answering slowly) just after the old key was taken, the second
// step failed at once and the session was lost. Now the step after the
// commit (finish.lua, making the new key permanent) runs detached and is
// retried once.
func testNoLogoutWhenDeadlinePassesAfterTake(t *testing.T, client redis.UniversalClient) {
	// setup returns a store on a faultyClient around client, and the key of
	// a session with principal created through it.
	setup := func(t *testing.T, opts redisstore.Options, principal string) (*redisstore.Store, *faultyClient, string) {
		t.Helper()
		fc := &faultyClient{UniversalClient: client}
		clock := clocktest.New()
		opts.Prefix, opts.Clock = "t"+randomHex(4)+":", clock.Now
		s := redisstore.New(fc, opts)
		require.NoError(t, s.LoadScripts(t.Context()), "so that no call falls back to EVAL")
		key := randomKey()
		require.NoError(t, s.Create(t.Context(), key, record(clock, principal)))
		return s, fc, key
	}
	// assertMoved checks that got is what Regenerate returned for oldKey
	// regenerated to newKey with a delta setting principal.
	assertMoved := func(t *testing.T, s *redisstore.Store, oldKey, newKey, principal string, got *sessions.Record) {
		t.Helper()
		ctx := t.Context()
		assert.EqualValues(t, 2, got.Version)
		assert.Equal(t, principal, got.Principal)
		loaded, err := s.Load(ctx, newKey, nil)
		require.NoError(t, err, "the session is not under the new key: the user was logged out")
		assert.Equal(t, got, loaded)
		_, err = s.Load(ctx, oldKey, nil)
		assert.ErrorIs(t, err, sessions.ErrNotFound)
		if principal != "" {
			keys, err := s.ByPrincipal(ctx, principal)
			require.NoError(t, err)
			assert.Equal(t, []string{newKey}, keys)
		}
	}
	// finishCall reports whether a script call on key with args is
	// Regenerate's last step on newKey (finish.lua: now, nonce, mode).
	finishCall := func(s *redisstore.Store, newKey, key string, args []any) bool {
		return key == sessionKeyOf(s, newKey) && len(args) == 3
	}

	for _, principal := range []string{"alice", ""} {
		name := "DeadlinePassesAfterCommit"
		if principal == "" {
			name += "Anonymous"
		}
		t.Run(name, func(t *testing.T) {
			s, fc, oldKey := setup(t, redisstore.Options{}, "")
			newKey := randomKey()
			ctx := newExpiringCtx()
			fc.around = func(cctx context.Context, key string, args []any, call func(context.Context) *redis.Cmd) *redis.Cmd {
				cmd := call(cctx)
				if key == sessionKeyOf(s, oldKey) && isCommit(args) && cmd.Err() == nil {
					ctx.expire() // the commit answered; the caller's time runs out
				}
				return cmd
			}
			got, err := s.Regenerate(ctx, oldKey, newKey, &sessions.Delta{Principal: ptr(principal)})
			require.ErrorIs(t, ctx.Err(), context.DeadlineExceeded, "the fault was not injected")
			require.NoError(t, err)
			fc.around = nil
			assertMoved(t, s, oldKey, newKey, principal, got)
		})
	}

	t.Run("FinishRetriedAfterTransientError", func(t *testing.T) {
		s, fc, oldKey := setup(t, redisstore.Options{}, "alice")
		newKey := randomKey()
		attempts := 0
		fc.around = func(ctx context.Context, key string, args []any, call func(context.Context) *redis.Cmd) *redis.Cmd {
			if !finishCall(s, newKey, key, args) {
				return call(ctx)
			}
			attempts++
			if attempts == 1 {
				return failedCmd(ctx, errors.New("injected: connection reset by peer"))
			}
			return call(ctx)
		}
		got, err := s.Regenerate(t.Context(), oldKey, newKey, &sessions.Delta{})
		require.NoError(t, err)
		assert.Equal(t, 2, attempts)
		fc.around = nil
		assertMoved(t, s, oldKey, newKey, "alice", got)
	})

	t.Run("FinishRetriedAfterLostReply", func(t *testing.T) {
		// The first attempt makes the key permanent but its reply is lost:
		// the retry must recognise the session as its own.
		s, fc, oldKey := setup(t, redisstore.Options{}, "alice")
		newKey := randomKey()
		attempts := 0
		fc.around = func(ctx context.Context, key string, args []any, call func(context.Context) *redis.Cmd) *redis.Cmd {
			if !finishCall(s, newKey, key, args) {
				return call(ctx)
			}
			attempts++
			cmd := call(ctx)
			if attempts == 1 {
				require.NoError(t, cmd.Err())
				return failedCmd(ctx, errors.New("injected: i/o timeout reading the reply"))
			}
			return cmd
		}
		got, err := s.Regenerate(t.Context(), oldKey, newKey, &sessions.Delta{
			Set: map[string]json.RawMessage{"logged_in": json.RawMessage(`true`)},
		})
		require.NoError(t, err)
		fc.around = nil
		assert.JSONEq(t, `true`, string(got.Attrs["logged_in"]))
		assertMoved(t, s, oldKey, newKey, "alice", got)
	})

	t.Run("FinishBounded", func(t *testing.T) {
		// A Redis that never answers the last step holds Regenerate for
		// at most two RegenerateTimeouts, even without a caller deadline.
		const timeout = 50 * time.Millisecond
		s, fc, oldKey := setup(t, redisstore.Options{RegenerateTimeout: timeout}, "alice")
		newKey := randomKey()
		attempts := 0
		fc.around = func(ctx context.Context, key string, args []any, call func(context.Context) *redis.Cmd) *redis.Cmd {
			if !finishCall(s, newKey, key, args) {
				return call(ctx)
			}
			attempts++
			<-ctx.Done()
			return failedCmd(ctx, ctx.Err())
		}
		start := time.Now()
		_, err := s.Regenerate(t.Context(), oldKey, newKey, &sessions.Delta{})
		elapsed := time.Since(start)
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.NotErrorIs(t, err, sessions.ErrNotFound)
		assert.Equal(t, 2, attempts, "one retry")
		assert.GreaterOrEqual(t, elapsed, 2*timeout)
		assert.Less(t, elapsed, 2*timeout+5*time.Second, "held past its two attempts (5s allowed for a loaded machine)")
		fc.around = nil
	})
}

// isCommit reports whether args are commit.lua's (now, nonce, tomb,
// version), not seal.lua's (now, limit, nonce, seal TTL), on the old key.
func isCommit(args []any) bool {
	if len(args) != 4 {
		return false
	}
	_, nonce := args[1].(string)
	return nonce
}
