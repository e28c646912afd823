package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"
	bberrors "go.etcd.io/bbolt/errors"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
)

const groupWait = 30 * time.Second // generous bound on a busy machine

// heldStore is a store on disk (fsync on) whose next write, once hold is
// called, stops in BeforeCommit until release: while it holds bbolt's
// writer lock inside its group commit, the writes that follow queue up
// and must form the next group together.
type heldStore struct {
	*Store
	path    string
	clock   *clocktest.Clock
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func newHeldStore(t *testing.T) *heldStore {
	t.Helper()
	h := &heldStore{clock: clocktest.New(), entered: make(chan struct{}), release: make(chan struct{})}
	h.path = filepath.Join(t.TempDir(), "sessions.db")
	s, err := Open(h.path, Options{Clock: h.clock.Now, SweepInterval: -1, BeforeCommit: func(context.Context) {
		if h.armed.CompareAndSwap(true, false) {
			close(h.entered)
			<-h.release
		}
	}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	h.Store = s
	return h
}

// hold starts first (a write) and returns once it is stopped in its commit.
func (h *heldStore) hold(t *testing.T, first func() error) <-chan error {
	t.Helper()
	h.armed.Store(true)
	done := make(chan error, 1)
	go func() { done <- first() }()
	select {
	case <-h.entered:
	case <-time.After(groupWait):
		t.Fatal("the first write never reached its commit")
	}
	return done
}

// queued waits until n writes wait behind the held one.
func (h *heldStore) queued(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		h.group.mu.Lock()
		defer h.group.mu.Unlock()
		return len(h.group.queue) == n
	}, groupWait, time.Millisecond, "writes queued behind the held commit")
}

func (h *heldStore) create(t *testing.T, keys ...string) {
	t.Helper()
	for _, k := range keys {
		require.NoError(t, h.Create(context.Background(), k, newRecord(h.clock.Now(), "p")))
	}
}

func setTheme(v string) *sessions.Delta {
	return &sessions.Delta{Set: map[string]json.RawMessage{"theme": json.RawMessage(`"` + v + `"`)}}
}

// TestGroupCommitSharesOneFsync: writes that arrive while a commit is
// under way are committed together, in one transaction (one fsync), and
// each writer returns only once that commit has: reopened, the file holds
// every write that returned.
func TestGroupCommitSharesOneFsync(t *testing.T) {
	h := newHeldStore(t)
	const writers = 32
	keys := make([]string, writers+1)
	for i := range keys {
		keys[i] = fmt.Sprint("k", i)
	}
	h.create(t, keys...)
	commits, txid := h.group.commits.Load(), lastTxID(t, h.Store)

	ctx := context.Background()
	first := h.hold(t, func() error { _, err := h.Apply(ctx, keys[0], setTheme("first")); return err })
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = h.Apply(ctx, keys[i+1], setTheme(fmt.Sprint("w", i)))
		}()
	}
	h.queued(t, writers)
	close(h.release)
	require.NoError(t, <-first)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "writer %d", i)
	}
	assert.Equal(t, int64(2), h.group.commits.Load()-commits, "the held write's commit, then one for the other 32")
	assert.Equal(t, 2, lastTxID(t, h.Store)-txid, "bbolt saw two write transactions")

	require.NoError(t, h.Close())
	again, err := Open(h.path, Options{Clock: h.clock.Now, SweepInterval: -1})
	require.NoError(t, err)
	defer again.Close()
	for i, k := range keys {
		rec, err := again.Load(ctx, k, nil)
		require.NoError(t, err)
		want := `"first"`
		if i > 0 {
			want = fmt.Sprintf(`"w%d"`, i-1)
		}
		assert.JSONEq(t, want, string(rec.Attrs["theme"]), k)
		assert.Equal(t, int64(2), rec.Version)
	}
}

// TestGroupCommitRefusalsKeepTheOthers: a member refused by the contract
// (not found, conflict, exists, replaced, past its deadline) wrote nothing,
// so it gets its own error while the rest of its group commits, once.
func TestGroupCommitRefusalsKeepTheOthers(t *testing.T) {
	h := newHeldStore(t)
	h.create(t, "held", "a", "b", "taken", "old")
	ctx := context.Background()
	_, err := h.Regenerate(ctx, "old", "new", &sessions.Delta{Tombstone: time.Hour})
	require.NoError(t, err)
	commits := h.group.commits.Load()

	first := h.hold(t, func() error { _, err := h.Apply(ctx, "held", nil); return err })
	ops := []func() error{
		func() error { _, err := h.Apply(ctx, "a", setTheme("x")); return err },
		func() error { _, err := h.Apply(ctx, "missing", setTheme("x")); return err },
		func() error { _, err := h.Apply(ctx, "b", &sessions.Delta{BaseVersion: 7}); return err },
		func() error { return h.Create(ctx, "taken", newRecord(h.clock.Now(), "")) },
		func() error { _, err := h.Apply(ctx, "old", nil); return err },
		func() error { return h.Delete(ctx, "old") },
		func() error { return h.Create(pastDeadline{ctx}, "late", newRecord(h.clock.Now(), "")) },
		func() error { _, err := h.Apply(ctx, "b", setTheme("y")); return err },
	}
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = op()
		}()
	}
	h.queued(t, len(ops))
	close(h.release)
	require.NoError(t, <-first)
	wg.Wait()

	assert.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], sessions.ErrNotFound)
	assert.ErrorIs(t, errs[2], sessions.ErrConflict)
	assert.ErrorIs(t, errs[3], sessions.ErrExists)
	assert.ErrorIs(t, errs[4], sessions.ErrReplaced)
	assert.ErrorIs(t, errs[5], sessions.ErrReplaced)
	assert.ErrorIs(t, errs[6], context.DeadlineExceeded)
	assert.NoError(t, errs[7])
	assert.Equal(t, int64(2), h.group.commits.Load()-commits, "the held write, then the rest in one")
	_, err = h.Load(ctx, "late", nil)
	assert.ErrorIs(t, err, sessions.ErrNotFound, "the write past its deadline wrote nothing")
	rec, err := h.Load(ctx, "b", nil)
	require.NoError(t, err)
	assert.JSONEq(t, `"y"`, string(rec.Attrs["theme"]))
}

// pastDeadline is a context whose deadline has passed but that nobody
// canceled: a write gets past its first check and is refused at the last.
type pastDeadline struct{ context.Context }

func (pastDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Second), true }

// TestGroupCommitFailedMemberRunsAlone: a member that fails after it began
// to write (here bbolt refuses a key past its size limit) rolls its group
// back; the others commit without it, and it runs alone for its own error.
// A member that panics is run alone too, so the panic reaches its own
// goroutine, not the leader's.
func TestGroupCommitFailedMemberRunsAlone(t *testing.T) {
	h := newHeldStore(t)
	h.create(t, "held", "a", "b")
	ctx := context.Background()
	commits := h.group.commits.Load()
	huge := strings.Repeat("k", 40000) // past bbolt's MaxKeySize (32768)

	first := h.hold(t, func() error { _, err := h.Apply(ctx, "held", nil); return err })
	var wg sync.WaitGroup
	var errA, errB, errHuge error
	var panicked atomic.Value
	run := func(f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f()
		}()
	}
	run(func() { _, errA = h.Apply(ctx, "a", setTheme("x")) })
	run(func() { errHuge = h.Create(ctx, huge, newRecord(h.clock.Now(), "p")) })
	run(func() {
		defer func() { panicked.Store(fmt.Sprint(recover())) }()
		_ = h.update(func(*bbolt.Tx) error { panic("boom") })
	})
	run(func() { _, errB = h.Apply(ctx, "b", setTheme("y")) })
	h.queued(t, 4)
	close(h.release)
	require.NoError(t, <-first)
	wg.Wait()

	assert.NoError(t, errA)
	assert.NoError(t, errB)
	assert.ErrorIs(t, errHuge, bberrors.ErrKeyTooLarge)
	assert.Equal(t, "boom", panicked.Load(), "the panic reached the writer that caused it")
	assert.Equal(t, int64(2), h.group.commits.Load()-commits,
		"the held write, then a and b once the two failed members were taken out")
	_, err := h.Load(ctx, huge, nil)
	assert.ErrorIs(t, err, sessions.ErrNotFound)
	assert.Equal(t, []string{"p|a", "p|b", "p|held"}, readIndexes(t, h.Store).principals,
		"nothing of the failed create is left in the indexes")
	for _, k := range []string{"a", "b"} {
		rec, err := h.Load(ctx, k, nil)
		require.NoError(t, err)
		assert.Equal(t, int64(2), rec.Version, k)
	}
}

// TestGroupCommitUnderFire: many writers on few sessions, every kind of
// write at once, leave the store consistent: each record's index entries
// and only those, and the version of each live record equal to the writes
// it took.
func TestGroupCommitUnderFire(t *testing.T) {
	clock := clocktest.New()
	s, _ := openTest(t, Options{Clock: clock.Now})
	ctx := context.Background()
	const keys, writers, rounds = 4, 16, 40
	for k := range keys {
		require.NoError(t, s.Create(ctx, fmt.Sprint("s", k), newRecord(clock.Now(), fmt.Sprint("p", k))))
	}
	var applied [keys]atomic.Int64
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				key := fmt.Sprint("s", (w+r)%keys)
				switch r % 4 {
				case 0, 1:
					if _, err := s.Apply(ctx, key, setTheme(fmt.Sprint(w, r))); err == nil {
						applied[(w+r)%keys].Add(1)
					}
				case 2:
					touch := &sessions.Touch{Before: clock.Now().Add(2 * time.Hour), IdleExp: clock.Now().Add(time.Hour + time.Duration(r)*time.Second)}
					_, _ = s.Load(ctx, key, touch)
				case 3:
					tmp := fmt.Sprint("t", w, "-", r)
					if err := s.Create(ctx, tmp, newRecord(clock.Now(), "temp")); err == nil {
						_, _ = s.Regenerate(ctx, tmp, tmp+"n", &sessions.Delta{Tombstone: time.Minute})
						_ = s.Delete(ctx, tmp+"n")
					}
				}
			}
		}()
	}
	wg.Wait()
	var want indexes
	for k := range keys {
		key := fmt.Sprint("s", k)
		rec, err := s.Load(ctx, key, nil)
		require.NoError(t, err)
		assert.Equal(t, 1+applied[k].Load(), rec.Version, key)
		want.principals = append(want.principals, fmt.Sprint("p", k, "|", key))
		want.expiry = append(want.expiry, key)
	}
	assert.Equal(t, want, readIndexes(t, s))
	assert.Equal(t, keys, rawCount(t, s))
}
