package redisstore

import (
	"context"
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Lua sources. lib.lua is prepended to the session scripts.
var (
	//go:embed lib.lua
	libLua string
	//go:embed load.lua
	loadLua string
	//go:embed create.lua
	createLua string
	//go:embed apply.lua
	applyLua string
	//go:embed take.lua
	takeLua string
	//go:embed index.lua
	indexLua string
)

// Result codes of the scripts, mirrored in lib.lua.
const (
	codeOK       = 0
	codeNotFound = 1
	codeConflict = 2
	codeTooLarge = 3
	codeExists   = 4
)

// scripts are the store's Lua scripts, built once per Store by New.
type scripts struct {
	load, create, apply, take, index *redis.Script
}

// newScripts builds the scripts from their embedded sources.
func newScripts() scripts {
	return scripts{
		load:   redis.NewScript(libLua + loadLua),
		create: redis.NewScript(libLua + createLua),
		apply:  redis.NewScript(libLua + applyLua),
		take:   redis.NewScript(libLua + takeLua),
		index:  redis.NewScript(indexLua),
	}
}

// scriptCall is one script invocation for runPipelined.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
}

// runPipelined sends calls in one pipeline, one round trip, each as
// EVALSHA, and returns their commands in order. A call the server refused
// with NOSCRIPT did not run, so it is sent again as EVAL in a second
// pipeline; that happens once per script and server (at first use, after
// a restart or a SCRIPT FLUSH). On a cluster the pipeline's commands may go
// to different nodes, concurrently and in no particular order. Errors are
// left on the commands for the caller to inspect.
func runPipelined(ctx context.Context, client redis.UniversalClient, calls ...scriptCall) []*redis.Cmd {
	cmds := make([]*redis.Cmd, len(calls))
	pipe := client.Pipeline()
	for i, c := range calls {
		cmds[i] = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	_, _ = pipe.Exec(ctx) // errors are on the commands
	var retry redis.Pipeliner
	for i, cmd := range cmds {
		if redis.HasErrorPrefix(cmd.Err(), "NOSCRIPT") {
			if retry == nil {
				retry = client.Pipeline()
			}
			cmds[i] = calls[i].script.Eval(ctx, retry, calls[i].keys, calls[i].args...)
		}
	}
	if retry != nil {
		_, _ = retry.Exec(ctx)
	}
	return cmds
}

// LoadScripts loads the store's scripts into the script cache of the
// server (of every master, on a cluster), so that no call has to fall back
// from EVALSHA to EVAL, which costs a round trip per script and server.
// Calling it is optional, and worthwhile at startup: it also checks that
// Redis is reachable and runs Lua.
func (s *Store) LoadScripts(ctx context.Context) error {
	for _, sc := range []*redis.Script{s.scripts.load, s.scripts.create, s.scripts.apply, s.scripts.take, s.scripts.index} {
		if err := sc.Load(ctx, s.client).Err(); err != nil {
			return fail(ctx, "loading scripts", err)
		}
	}
	return nil
}
