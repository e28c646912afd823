package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Start begins the store's background work and returns at once:
//
//   - it loads the scripts on every master (LoadScripts), trying again
//     until that succeeds, so that the first calls need no EVAL (a Redis
//     that is down at start is no error: calls fail until it is back);
//   - with Options.Cache.Enabled, it runs the cache (see the package
//     comment, Caching): the invalidation channels and their heartbeat,
//     and the writer of idle touches.
//
// Close ends it. Without Start the store works as it always has, one
// script per read. Calling Start again does nothing. It fails, leaving
// the cache off, only for a client the cache cannot track (neither a
// *redis.Client nor a *redis.ClusterClient, such as a Ring).
func (s *Store) Start() error {
	var err error
	s.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.stop = cancel
		s.bg.Go(func() { s.loadLoop(ctx) })
		if !s.cacheOpts.Enabled {
			return
		}
		switch s.client.(type) {
		case *redis.Client, *redis.ClusterClient:
		default:
			err = fmt.Errorf("redis store: cache: unsupported client %T; running without the cache", s.client)
			return
		}
		o := s.cacheOpts.withDefaults()
		s.cache = newCache(o.MaxEntries, o.MaxBytes)
		s.track = newTracker(s.client, s.cache, s.prefix, o.Staleness)
		s.track.onChange = o.OnChange
		s.touches = newToucher(s, o.TouchQueue)
		s.bg.Go(s.track.run)
		s.started.Store(true)
	})
	return err
}

// loadLoop loads the scripts, trying again with a growing pause until it
// succeeds or ctx ends, then closes s.loaded.
func (s *Store) loadLoop(ctx context.Context) {
	for wait := retryMin; ; wait = min(2*wait, retryMax) {
		lctx, cancel := context.WithTimeout(ctx, scriptReloadTimeout)
		err := s.LoadScripts(lctx)
		cancel()
		if err == nil {
			close(s.loaded)
			return
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// Close ends what Start began: the cache stops (it is flushed, and
// reads go to Redis from then on), and the idle touches still queued are
// written, for at most 2s; those left then are dropped (a dropped touch
// leaves the session's idle expiry where its last write or touch put it:
// the session may end sooner than that read showed, never later; see
// toucher). Started or not, it also ends a reload of the scripts that a
// NOSCRIPT began and waits for it, so the caller may close the client
// right after. It returns nil; calling it again does nothing.
func (s *Store) Close() error {
	s.startOnce.Do(func() {}) // a Start after Close starts nothing
	s.closeOnce.Do(func() {
		s.stopReloads() // a store never started may have begun one
		if s.stop == nil {
			return
		}
		s.stop()
		if s.track != nil {
			s.track.close()
			s.touches.close()
		}
		s.bg.Wait()
	})
	return nil
}

// Ready waits until Start's work is under way: the scripts are loaded
// and, with the cache, the cache is usable (every master's invalidation
// channel set up and its first heartbeat back). It returns ctx's error,
// joined with why the cache is not usable, if ctx ends first. Serving
// does not need it: until then reads go to Redis. Tests and benchmarks
// use it to start from the steady state.
func (s *Store) Ready(ctx context.Context) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.loaded:
			if !s.started.Load() || s.track.usable() {
				return nil
			}
		default:
		}
		select {
		case <-ctx.Done():
			var cause error
			if s.started.Load() {
				cause = s.track.err()
			}
			return fmt.Errorf("redis store: not ready: %w", errors.Join(ctx.Err(), cause))
		case <-tick.C:
		}
	}
}

// CacheStats describe a Store's cache (Options.Cache) since Start.
type CacheStats struct {
	// Running is true between Start and Close with the cache enabled.
	Running bool
	// Usable is true when the cache may answer reads now.
	Usable bool
	// Entries and Bytes are what it holds now (Bytes an estimate).
	Entries, Bytes int
	// Hits and Misses count reads it answered or passed to Redis while
	// usable; Bypassed counts reads while it was not.
	Hits, Misses, Bypassed int64
	// Fills counts reads that filled it; Dropped those whose answer was
	// dropped because the key was invalidated, or the cache flushed,
	// while they were under way.
	Fills, Dropped int64
	// Evictions counts entries pushed out by the bounds, Invalidations
	// keys dropped by a write (this process's or a message), Flushes
	// whole flushes (a lost channel, a new set-up, Close).
	Evictions, Invalidations, Flushes int64
	// Touches counts idle touches written after their reads,
	// TouchFailures those that failed (the session keeps the expiry its
	// last write or touch gave it).
	Touches, TouchFailures int64
	// LastError says why the cache last became unusable (nil if never).
	LastError error
}

// CacheStats returns the cache's statistics.
func (s *Store) CacheStats() CacheStats {
	if !s.started.Load() {
		return CacheStats{}
	}
	c := &s.cache.stats
	n, size := s.cache.len()
	return CacheStats{
		Running: s.track.life.Err() == nil, Usable: s.track.usable(),
		Entries: n, Bytes: size,
		Hits: c.hits.Load(), Misses: c.misses.Load(), Bypassed: c.bypassed.Load(),
		Fills: c.fills.Load(), Dropped: c.dropped.Load(),
		Evictions: c.evictions.Load(), Invalidations: c.invalidations.Load(), Flushes: c.flushes.Load(),
		Touches: c.touches.Load(), TouchFailures: c.touchFailures.Load(),
		LastError: s.track.err(),
	}
}

// settleTouch writes the pending touch of key, if any, before a write of
// the session (toucher.settle).
func (s *Store) settleTouch(ctx context.Context, key string) {
	if s.started.Load() {
		s.touches.settle(ctx, key)
	}
}

// settleTouches writes every pending touch before an inventory read
// (toucher.settleAll).
func (s *Store) settleTouches(ctx context.Context) {
	if s.started.Load() {
		s.touches.settleAll(ctx)
	}
}

// evict drops key from the cache: a write of this process's to it is
// under way or done.
func (s *Store) evict(key string) {
	if s.started.Load() {
		s.cache.invalidate(key)
	}
}
