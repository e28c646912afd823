package certstore

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Lua sources; each file's header documents its keys, arguments and
// reply.
var (
	//go:embed store.lua
	storeLua string
	//go:embed stat.lua
	statLua string
	//go:embed delete.lua
	deleteLua string
)

// scripts are the Storage's Lua scripts. They run with EVALSHA, falling
// back to EVAL the first time a server sees one. Every script declares
// all the keys it touches, and these share one hash slot.
type scripts struct {
	store, stat, delete *redis.Script
}

// newScripts builds the scripts from their embedded sources.
func newScripts() scripts {
	return scripts{
		store:  redis.NewScript(storeLua),
		stat:   redis.NewScript(statLua),
		delete: redis.NewScript(deleteLua),
	}
}
