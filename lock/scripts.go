package lock

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Lua sources; each file's header documents its keys, arguments and
// reply.
var (
	//go:embed acquire.lua
	acquireLua string
	//go:embed extend.lua
	extendLua string
	//go:embed release.lua
	releaseLua string
	//go:embed fence.lua
	fenceLua string
)

// scripts are the Redis Locker's Lua scripts, built once per Locker. They
// run with EVALSHA, falling back to EVAL the first time a server sees
// one.
type scripts struct {
	acquire, extend, release, fence *redis.Script
}

// newScripts builds the scripts from their embedded sources.
func newScripts() scripts {
	return scripts{
		acquire: redis.NewScript(acquireLua),
		extend:  redis.NewScript(extendLua),
		release: redis.NewScript(releaseLua),
		fence:   redis.NewScript(fenceLua),
	}
}
