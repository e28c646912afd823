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
	// codeReindex: apply.lua found the session may outlive the index
	// bound it was given, and wrote nothing (see Store.Apply).
	codeReindex = 5
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
