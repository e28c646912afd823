package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Sizes of the concurrency tests.
const (
	concurrentWriters = 50  // goroutines writing one session at once
	raceRounds        = 30  // sessions raced per test
	racingWriters     = 4   // writers per raced session
	maxRacingWrites   = 1e4 // a writer gives up (and fails) after this many
)

func (s *suite) testConcurrency(t *testing.T) {
	t.Run("DistinctAttributesAllKept", func(t *testing.T) {
		e := s.env(t)
		key, rec := e.session()
		versions := make([]int64, concurrentWriters)
		errs := make([]error, concurrentWriters)
		want := cloneRecord(rec)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range concurrentWriters {
			name, value := fmt.Sprintf("w%02d", i), raw(strconv.Itoa(i))
			want.Attrs[name] = value
			wg.Go(func() {
				<-start
				versions[i], errs[i] = e.store.Apply(e.ctx, key, &sessions.Delta{
					Set: map[string]json.RawMessage{name: value},
				})
			})
		}
		close(start)
		wg.Wait()

		require.NoError(t, errors.Join(errs...))
		wantVersions := make([]int64, concurrentWriters)
		for i := range wantVersions {
			wantVersions[i] = rec.Version + 1 + int64(i)
		}
		assert.ElementsMatch(t, wantVersions, versions, "each Apply returns a distinct new version")
		want.Version = rec.Version + concurrentWriters
		assertRecord(t, want, e.load(key))
	})

	t.Run("ApplyRacingDeleteNeverRevives", func(t *testing.T) {
		e := s.env(t)
		for round := range raceRounds {
			key, rec := e.session()
			race := newRace(e, key)
			var delErr error
			race.wg.Go(func() {
				race.waitFirstWrite()
				delErr = e.store.Delete(e.ctx, key)
			})
			results := race.run()

			require.NoError(t, delErr, "round %d: Delete", round)
			for i, r := range results {
				require.NoError(t, r.err, "round %d: writer %d", round, i)
				assert.False(t, r.revived, "round %d: writer %d: an Apply succeeded after an earlier one got ErrNotFound: the deleted session came back", round, i)
			}
			e.assertStaysGone(key)
			e.assertListed(rec.Principal)
			if t.Failed() {
				return
			}
		}
	})

	t.Run("ApplyRacingRegenerateLosesNoWrite", func(t *testing.T) {
		e := s.env(t)
		for round := range raceRounds {
			oldKey, rec := e.session()
			newKey := randomKey()
			race := newRace(e, oldKey)
			var regenErr error
			regenDelta := &sessions.Delta{Set: map[string]json.RawMessage{"regenerated": raw(`true`)}}
			race.wg.Go(func() {
				race.waitFirstWrite()
				_, regenErr = e.store.Regenerate(e.ctx, oldKey, newKey, regenDelta)
			})
			results := race.run()

			require.NoError(t, regenErr, "round %d: Regenerate", round)
			want := expectMoved(rec, regenDelta)
			for i, r := range results {
				require.NoError(t, r.err, "round %d: writer %d", round, i)
				// r.revived is no fault here: a refused write is fine, and a
				// later success must still show up in the new record.
				for _, j := range r.ok {
					name, value := racingAttr(i, j)
					want.Attrs[name] = value
					want.Version++
				}
			}
			// Every write that returned success is in the new record, and
			// no refused write is.
			assertRecord(t, want, e.load(newKey))
			e.assertStaysGone(oldKey)
			e.assertListed(rec.Principal, newKey)
			if t.Failed() {
				return
			}
		}
	})
}

// race runs racingWriters goroutines that each Apply their own attributes
// to one key until it is gone, alongside one more goroutine the test adds
// to wg (a Delete or a Regenerate) that calls waitFirstWrite first, so it
// overlaps with the writes.
type race struct {
	e         *env
	key       string
	wg        sync.WaitGroup
	firstOnce sync.Once
	first     chan struct{} // closed after the first successful write
}

// raceResult is what one writer saw.
type raceResult struct {
	ok      []int // the sequence numbers of the writes that succeeded
	revived bool  // a write succeeded after an earlier one got ErrNotFound
	err     error // a failure other than ErrNotFound
}

func newRace(e *env, key string) *race {
	return &race{e: e, key: key, first: make(chan struct{})}
}

// waitFirstWrite blocks until a writer has written once.
func (r *race) waitFirstWrite() { <-r.first }

// run starts the writers and waits for them and for whatever the test
// added to r.wg.
func (r *race) run() []raceResult {
	results := make([]raceResult, racingWriters)
	for i := range racingWriters {
		r.wg.Go(func() { results[i] = r.write(i) })
	}
	r.wg.Wait()
	return results
}

// write is one writer: it applies racingAttr(i, j) for j = 0, 1, ... until
// the key is gone, then tries three more times.
func (r *race) write(i int) raceResult {
	var res raceResult
	defer r.firstOnce.Do(func() { close(r.first) }) // never leave the other goroutine waiting
	refusals := 0
	for j := range int(maxRacingWrites) {
		name, value := racingAttr(i, j)
		_, err := r.e.store.Apply(r.e.ctx, r.key, &sessions.Delta{Set: map[string]json.RawMessage{name: value}})
		switch {
		case err == nil:
			res.ok = append(res.ok, j)
			res.revived = res.revived || refusals > 0
			r.firstOnce.Do(func() { close(r.first) })
		case errors.Is(err, sessions.ErrNotFound):
			if refusals++; refusals > 3 {
				return res
			}
		default:
			res.err = fmt.Errorf("Apply #%d: %w", j, err)
			return res
		}
	}
	res.err = fmt.Errorf("still writing after %d Applies: the key never went away", int(maxRacingWrites))
	return res
}

// racingAttr is the attribute writer i sets in its write number j.
func racingAttr(i, j int) (string, json.RawMessage) {
	return fmt.Sprintf("w%d-%d", i, j), raw(strconv.Itoa(j))
}
