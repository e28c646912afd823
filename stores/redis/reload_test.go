package redisstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// holdScriptLoads is a go-redis hook that holds every SCRIPT LOAD until
// its context ends, and tells held of the first.
type holdScriptLoads struct{ held chan struct{} }

func (h *holdScriptLoads) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *holdScriptLoads) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if args := cmd.Args(); len(args) > 1 && strings.EqualFold(cmd.Name(), "script") && strings.EqualFold(args[1].(string), "load") {
			select {
			case h.held <- struct{}{}:
			default:
			}
			<-ctx.Done()
			return ctx.Err()
		}
		return next(ctx, cmd)
	}
}

func (h *holdScriptLoads) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A store that was never started still reloads its scripts after a
// NOSCRIPT, in a goroutine. Close must end it and wait for it: the caller
// (`sidecar store migrate`) closes the client right after, and a command
// still under way then made go-redis print "Unexpected conn state changed
// by hook to CLOSED" on standard error, after the command's summary.
func TestCloseEndsScriptReload(t *testing.T) {
	ctx := t.Context()
	client := redistest.Start(t).Client(t)
	clock := clocktest.New()
	s := newStore(t, client, clock)
	require.NoError(t, s.LoadScripts(ctx))
	key := randomKey()
	require.NoError(t, s.Create(ctx, key, record(clock, "p")))

	hold := &holdScriptLoads{held: make(chan struct{}, 1)}
	client.AddHook(hold)
	require.NoError(t, client.ScriptFlush(ctx).Err())
	_, err := s.Load(ctx, key, nil)
	require.NoError(t, err, "Load falls back to EVAL")
	waitReceive(t, hold.held, "the reload to send SCRIPT LOAD")
	assert.True(t, s.Reloading())

	require.NoError(t, s.Close())
	assert.False(t, s.Reloading(), "Close returned with the reload still under way")

	require.NoError(t, client.ScriptFlush(ctx).Err())
	_, err = s.Load(ctx, key, nil)
	require.NoError(t, err, "a closed store still answers")
	assert.False(t, s.Reloading(), "no reload starts after Close")
}

// waitReceive waits until a value arrives on ch (see waitUntil).
func waitReceive(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	waitUntil(t, what, func() bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	})
}
