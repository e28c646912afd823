package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// heartbeat beats the pairs every interval until one is lost (the
// returned error says how) or the tracker stops (errStopped). Each beat
// writes every pair's heartbeat key through the store's client and waits
// for the invalidations to come back; when they all have, the cache is
// usable until the beat's start + staleness. Every fourth beat (once per
// staleness) first checks that every tracking connection is still on a
// master (ROLE) and, on a cluster, that the slot map is the one the
// pairs were set up for: a failover or a re-shard that has not broken a
// connection is thus a loss within about the staleness too.
func (t *tracker) heartbeat() error {
	t.mu.Lock()
	pairs, topo := t.pairs, t.topo
	t.mu.Unlock()
	for seq := int64(1); ; seq++ {
		start := time.Since(t.base)
		gen := t.gen.Load()
		for _, p := range pairs {
			select {
			case <-p.beat: // a stray: the key expiring, say
			default:
			}
		}
		if err := t.probe(pairs, topo, seq, seq%4 == 1); err != nil {
			return err
		}
		if err := t.await(pairs, start); err != nil {
			return err
		}
		t.vmu.Lock()
		ok := t.gen.Load() == gen
		if ok {
			t.validUntil.Store(int64(start + t.staleness))
		}
		t.vmu.Unlock()
		if ok {
			t.report(true, nil)
		}
		if wait := start + t.interval - time.Since(t.base); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-t.life.Done():
				timer.Stop()
				return errStopped
			case <-timer.C:
			}
		}
	}
}

// probe checks the tracking connections and the topology when check is
// set, then sends the heartbeat writes, all within lossAfter.
func (t *tracker) probe(pairs []*pair, topo string, seq int64, check bool) error {
	ctx, cancel := context.WithTimeout(t.life, t.lossAfter)
	defer cancel()
	fail := func(what string, err error) error {
		if t.life.Err() != nil {
			return errStopped
		}
		return fmt.Errorf("redis store: cache: heartbeat: %s: %w", what, err)
	}
	if check && topo != "" {
		now, err := t.topology(ctx)
		if err != nil {
			return fail("reading the topology", err)
		}
		if now.fingerprint != topo {
			return fail("topology", errTopologyChanged)
		}
	}
	for _, p := range pairs {
		if !check {
			break
		}
		role, err := p.conn.Do(ctx, "ROLE").Slice()
		if err == nil && (len(role) == 0 || role[0] != "master") {
			err = fmt.Errorf("%w (ROLE: %v)", errNotMaster, role)
		}
		if err != nil {
			return fail("tracking connection of "+quoteAddr(p.addr), err)
		}
	}
	pipe := t.client.Pipeline()
	for _, p := range pairs {
		pipe.Set(ctx, p.hbKey, seq, heartbeatTTL)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fail("writing", err)
	}
	return nil
}

// await waits until every pair's heartbeat is back, at most until start
// + lossAfter.
func (t *tracker) await(pairs []*pair, start time.Duration) error {
	timer := time.NewTimer(start + t.lossAfter - time.Since(t.base))
	defer timer.Stop()
	for _, p := range pairs {
		select {
		case <-p.beat:
		case <-p.done:
			return fmt.Errorf("redis store: cache: invalidation channel of %s closed", quoteAddr(p.addr))
		case <-timer.C:
			return fmt.Errorf("redis store: cache: heartbeat of %s not back within %v", quoteAddr(p.addr), t.lossAfter)
		case <-t.life.Done():
			return errStopped
		}
	}
	return nil
}

// Errors of a heartbeat.
var (
	errTopologyChanged = errors.New("the cluster's slot map changed")
	errNotMaster       = errors.New("the server is no longer a master")
)

// quoteAddr names a master in errors: its address, or "the master".
func quoteAddr(addr string) string {
	if addr == "" {
		return "the master"
	}
	return addr
}
