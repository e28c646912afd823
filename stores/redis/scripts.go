package redisstore

import (
	"context"
	_ "embed"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// The Lua sources. lib.lua is prepended to the session scripts (not to
// index.lua and unhandle.lua, which run on index keys).
var (
	//go:embed lib.lua
	libLua string
	//go:embed load.lua
	loadLua string
	//go:embed create.lua
	createLua string
	//go:embed apply.lua
	applyLua string
	//go:embed delete.lua
	deleteLua string
	//go:embed seal.lua
	sealLua string
	//go:embed unseal.lua
	unsealLua string
	//go:embed prepare.lua
	prepareLua string
	//go:embed commit.lua
	commitLua string
	//go:embed finish.lua
	finishLua string
	//go:embed index.lua
	indexLua string
	//go:embed unhandle.lua
	unhandleLua string
	//go:embed touch.lua
	touchLua string
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
	// codeReplaced: the key is a live tombstone.
	codeReplaced = 6
	// codeLate: the server's clock was past the commit limit; nothing
	// was written.
	codeLate = 7
	// codeUnsupported: the record is in a format newer than this build.
	codeUnsupported = 8
	// codeLost: finish.lua found the prepared session gone.
	codeLost = 9
	// codeSealed: a Regenerate is moving the session; wait and retry.
	codeSealed = 10
	// codeChanged: commit.lua found the session changed since seal.lua
	// read it (a writer that ignores seals, such as a format 1 build's
	// apply.lua during an upgrade); the seal is lifted: seal again.
	codeChanged = 11
)

// format is the record format the scripts write (FORMAT in lib.lua).
const format = 2

// scripts are the store's Lua scripts, built once per Store by New.
type scripts struct {
	load, create, apply, del, seal, unseal, prepare, commit, finish, index, unhandle, touch *redis.Script
}

// newScripts builds the scripts from their embedded sources.
func newScripts() scripts {
	return scripts{
		load:     redis.NewScript(libLua + loadLua),
		create:   redis.NewScript(libLua + createLua),
		apply:    redis.NewScript(libLua + applyLua),
		del:      redis.NewScript(libLua + deleteLua),
		seal:     redis.NewScript(libLua + sealLua),
		unseal:   redis.NewScript(libLua + unsealLua),
		prepare:  redis.NewScript(libLua + prepareLua),
		commit:   redis.NewScript(libLua + commitLua),
		finish:   redis.NewScript(libLua + finishLua),
		index:    redis.NewScript(indexLua),
		unhandle: redis.NewScript(unhandleLua),
		touch:    redis.NewScript(libLua + touchLua),
	}
}

// all lists every script, for LoadScripts.
func (sc scripts) all() []*redis.Script {
	return []*redis.Script{sc.load, sc.create, sc.apply, sc.del, sc.seal, sc.unseal, sc.prepare, sc.commit, sc.finish, sc.index, sc.unhandle, sc.touch}
}

// LoadScripts loads the store's scripts into the script cache of the
// server (of every master, on a cluster), so that no call has to fall back
// from EVALSHA to EVAL, which costs a round trip per script and server.
// Start calls it; calling it yourself is optional: it also checks that
// Redis is reachable and runs Lua. A script that a server turns out not
// to have (NOSCRIPT: restarted, failed over, flushed, a new node) is
// sent with EVAL that once, and all of them are loaded again in the
// background (see run).
func (s *Store) LoadScripts(ctx context.Context) error {
	for _, sc := range s.scripts.all() {
		if err := sc.Load(ctx, s.client).Err(); err != nil {
			return fail(ctx, "loading scripts", err)
		}
	}
	return nil
}

// scriptReloadTimeout bounds the background reload of the scripts after
// a NOSCRIPT.
const scriptReloadTimeout = 5 * time.Second

// run sends sc with EVALSHA; on NOSCRIPT (the server lost its script
// cache: a restart, a failover to a server that never had them, SCRIPT
// FLUSH, a new cluster node) it sends it again with EVAL and has every
// script loaded again on every master in the background, so the other
// scripts' next calls go with EVALSHA at once. A NOSCRIPT reply means
// the script did not run, so sending it again is safe.
func (s *Store) run(ctx context.Context, sc *redis.Script, keys []string, args ...any) *redis.Cmd {
	cmd := sc.EvalSha(ctx, s.client, keys, args...)
	if isNoScript(cmd.Err()) {
		s.reloadScripts()
		return sc.Eval(ctx, s.client, keys, args...)
	}
	return cmd
}

// isNoScript reports whether err is Redis's NOSCRIPT.
func isNoScript(err error) bool {
	return err != nil && (errors.Is(err, redis.ErrNoScript) || redis.HasErrorPrefix(err, "NOSCRIPT"))
}

// reloadScripts loads every script on every master, in a goroutine that
// ends within scriptReloadTimeout, or at Close, which waits for it (the
// caller closes the client after Close); one at a time; its failure is
// left for the next NOSCRIPT to retry.
func (s *Store) reloadScripts() {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	if s.reloading || s.noReloads {
		return
	}
	s.reloading = true
	s.reloads.Add(1)
	go func() {
		defer s.reloads.Done()
		ctx, cancel := context.WithTimeout(s.reloadCtx, scriptReloadTimeout)
		defer cancel()
		_ = s.LoadScripts(ctx)
		s.reloadMu.Lock()
		s.reloading = false
		s.reloadMu.Unlock()
	}()
}

// stopReloads ends the reload under way, if any, and waits for it; no
// reload starts after it.
func (s *Store) stopReloads() {
	s.reloadMu.Lock()
	s.noReloads = true
	s.reloadMu.Unlock()
	s.endReloads()
	s.reloads.Wait()
}
