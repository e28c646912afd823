package redisstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/sessions"
)

var _ sessions.Lister = (*Store)(nil)

// eachScanCount is the COUNT hint of Each's SCAN calls: about how many
// keys of the whole database each call looks at, and so the most session
// hashes one pipelined read fetches.
const eachScanCount = 512

// Each calls fn with each live session: it SCANs every master (each node
// of a cluster, found with ForEachMaster; the one server otherwise) for
// the hashes under the session prefix (Prefix+"s:*", TYPE hash), reads
// each batch the SCAN returns with one pipelined HGETALL per session, and
// judges liveness by the store clock. It runs no script and writes
// nothing (unlike Load, it does not even delete an expired session it
// meets), so it may read a store that must not change.
//
// It walks the keyspace rather than the registry Count reads: the
// registry lags a session's expiry by up to a minute and drops an entry
// once its score has passed, and it misses sessions an older build
// created, so a live session may be absent from it; a SCAN finds every
// key that exists from its start to its end. The cost is a walk of every
// key in the database, other deployments' included (about
// eachScanCount keys per round trip), and the keys already passed, which
// Each remembers so that a key a SCAN returns twice is passed once. A
// cluster resharding while Each runs may move a session to a node
// already scanned, which Each then misses.
//
// Tombstones and Regenerate's unfinished copies are skipped; a hash that
// cannot be decoded (malformed, or a newer format) is passed with an
// error. Errors from Redis are wrapped as "redis store: listing
// sessions: ...", with ctx.Err() joined in when ctx is done.
func (s *Store) Each(ctx context.Context, fn func(key string, rec *sessions.Record, err error) error) error {
	if err := ctx.Err(); err != nil {
		return fail(ctx, "listing sessions", err)
	}
	masters, err := s.masters(ctx)
	if err != nil {
		return fail(ctx, "listing sessions: finding the masters", err)
	}
	match := globEscape(s.prefix+"s:") + "*"
	seen := make(map[string]struct{})
	for _, m := range masters {
		var cursor uint64
		for {
			keys, next, err := m.ScanType(ctx, cursor, match, eachScanCount, "hash").Result()
			if err != nil {
				return fail(ctx, "listing sessions", err)
			}
			fresh := keys[:0]
			for _, k := range keys {
				if _, dup := seen[k]; !dup {
					seen[k] = struct{}{}
					fresh = append(fresh, k)
				}
			}
			if err := s.eachRead(ctx, fresh, fn); err != nil {
				return err
			}
			if next == 0 {
				break
			}
			cursor = next
		}
	}
	return nil
}

// masters returns the clients to SCAN: every master of a cluster, or the
// store's own client (a standalone server, or the master a Sentinel
// client talks to).
func (s *Store) masters(ctx context.Context) ([]redis.UniversalClient, error) {
	cc, ok := s.client.(*redis.ClusterClient)
	if !ok {
		return []redis.UniversalClient{s.client}, nil
	}
	var mu sync.Mutex
	var out []redis.UniversalClient
	err := cc.ForEachMaster(ctx, func(_ context.Context, c *redis.Client) error {
		mu.Lock() // ForEachMaster calls this on a goroutine per master
		defer mu.Unlock()
		out = append(out, c)
		return nil
	})
	return out, err
}

// eachRead reads the session hashes named by keys (Redis keys) in one
// pipelined round trip through the store's client (which, on a cluster,
// sends each to the node holding it) and passes the live ones to fn.
func (s *Store) eachRead(ctx context.Context, keys []string, fn func(string, *sessions.Record, error) error) error {
	if len(keys) == 0 {
		return nil
	}
	pipe := s.client.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HGetAll(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fail(ctx, "listing sessions: reading them", err)
	}
	now := time.UnixMilli(s.now())
	for i, cmd := range cmds {
		fields := cmd.Val()
		if len(fields) == 0 || fields["pending"] != "" || fields["idle_exp"] == "" {
			continue // gone since the SCAN, an unfinished copy, or a tombstone
		}
		vals := make([]any, 0, 2*len(fields))
		for f, v := range fields {
			vals = append(vals, f, v)
		}
		key := strings.TrimPrefix(keys[i], s.prefix+"s:")
		rec, err := decodeRecord(vals)
		if err != nil {
			err = fmt.Errorf("redis store: reading a stored session: %w", err)
		} else if !rec.Live(now) {
			continue
		}
		if err := fn(key, rec, err); err != nil {
			return err
		}
	}
	return nil
}

// globEscape escapes the characters a SCAN MATCH pattern treats specially
// (* ? [ ] \), so that a prefix containing them matches only itself.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
