package bolt

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.etcd.io/bbolt"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
)

func TestSurvivesReopen(t *testing.T) {
	clock := clocktest.New()
	s, path := openTest(t, Options{Clock: clock.Now})
	ctx := context.Background()
	rec := newRecord(clock.Now(), "user:1")
	require.NoError(t, s.Create(ctx, "k1", rec))
	p := "user:2"
	v, err := s.Apply(ctx, "k1", &sessions.Delta{
		Set:       map[string]json.RawMessage{"theme": json.RawMessage(`"dark"`)},
		Principal: &p,
	})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s2, err := Open(path, Options{Clock: clock.Now, SweepInterval: -1})
	require.NoError(t, err)
	defer func() { require.NoError(t, s2.Close()) }()
	got, err := s2.Load(ctx, "k1", nil)
	require.NoError(t, err)
	assert.Equal(t, v, got.Version)
	assert.Equal(t, "user:2", got.Principal)
	assert.JSONEq(t, `"dark"`, string(got.Attrs["theme"]))
	assert.JSONEq(t, `[1,2]`, string(got.Attrs["cart"]))
	assert.True(t, rec.Created.Equal(got.Created))
	assert.True(t, rec.IdleExp.Equal(got.IdleExp))
	assert.True(t, rec.AbsExp.Equal(got.AbsExp))
	keys, err := s2.ByPrincipal(ctx, "user:2")
	require.NoError(t, err)
	assert.Equal(t, []string{"k1"}, keys)
}

func TestSecondOpenFailsFast(t *testing.T) {
	s, path := openTest(t, Options{})
	_ = s
	start := time.Now()
	s2, err := Open(path, Options{Timeout: 50 * time.Millisecond})
	assert.ErrorIs(t, err, ErrLocked)
	assert.ErrorContains(t, err, path)
	assert.Nil(t, s2)
	// Without a Timeout, Open would wait for the lock for ever; the bound
	// is generous, for a loaded machine.
	assert.Less(t, time.Since(start), 10*time.Second, "Open gave up at its Timeout")
}

func TestOpenRefusesUnknownLayout(t *testing.T) {
	s, path := openTest(t, Options{})
	require.NoError(t, s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(layoutKey, []byte{2})
	}))
	require.NoError(t, s.Close())
	_, err := Open(path, Options{SweepInterval: -1})
	assert.ErrorIs(t, err, ErrCorrupt)
	// The failed Open released the file.
	s2, err := Open(path, Options{SweepInterval: -1, Timeout: 50 * time.Millisecond})
	require.ErrorIs(t, err, ErrCorrupt, "and not ErrLocked")
	assert.Nil(t, s2)
}

func TestOpenRejectsNonBoltFile(t *testing.T) {
	path := t.TempDir() + "/not.db"
	require.NoError(t, writeFile(path, []byte("this is not a bbolt file, not even close, but long enough to be read")))
	_, err := Open(path, Options{})
	assert.Error(t, err)
}

func TestCorruptRecordIsAnErrorNotAPanic(t *testing.T) {
	clock := clocktest.New()
	ctx := context.Background()
	good := encodeRecord(newRecord(clock.Now(), "p"))
	for name, raw := range map[string][]byte{
		"unknown format": append([]byte{0x7f}, good[1:]...),
		"truncated":      good[:len(good)/2],
		"empty":          {},
	} {
		t.Run(name, func(t *testing.T) {
			s, _ := openTest(t, Options{Clock: clock.Now})
			putRaw(t, s, "k", raw)
			require.NoError(t, s.db.Update(func(tx *bbolt.Tx) error {
				return tx.Bucket(bucketPrincipals).Put(principalKey("p", "k"), nil)
			}))

			_, err := s.Load(ctx, "k", nil)
			assert.ErrorIs(t, err, ErrCorrupt, "Load")
			_, err = s.Apply(ctx, "k", &sessions.Delta{})
			assert.ErrorIs(t, err, ErrCorrupt, "Apply")
			_, err = s.Regenerate(ctx, "k", "k2", &sessions.Delta{})
			assert.ErrorIs(t, err, ErrCorrupt, "Regenerate")
			err = s.Create(ctx, "k", newRecord(clock.Now(), ""))
			assert.ErrorIs(t, err, ErrCorrupt, "Create over it")
			_, err = s.ByPrincipal(ctx, "p")
			assert.ErrorIs(t, err, ErrCorrupt, "ByPrincipal")

			require.NoError(t, s.Delete(ctx, "k"), "Delete removes it")
			_, err = s.Load(ctx, "k", nil)
			assert.ErrorIs(t, err, sessions.ErrNotFound)
			keys, err := s.ByPrincipal(ctx, "p")
			require.NoError(t, err)
			assert.Empty(t, keys)
			assert.Empty(t, readIndexes(t, s).principals, "ByPrincipal pruned the orphaned entry")
		})
	}
}

func TestIndexesFollowEveryWrite(t *testing.T) {
	clock := clocktest.New()
	s, _ := openTest(t, Options{Clock: clock.Now})
	ctx := context.Background()
	now := clock.Now()

	require.NoError(t, s.Create(ctx, "k1", newRecord(now, "alice")))
	require.NoError(t, s.Create(ctx, "k2", newRecord(now, "")))
	assert.Equal(t, indexes{principals: []string{"alice|k1"}, expiry: []string{"k1", "k2"}}, readIndexes(t, s))

	before, _ := expiryEntry(t, s, "k1")
	bob := "bob"
	_, err := s.Apply(ctx, "k1", &sessions.Delta{Principal: &bob, IdleExp: now.Add(2 * time.Hour)})
	require.NoError(t, err)
	after, _ := expiryEntry(t, s, "k1")
	assert.NotEqual(t, before, after, "expiry entry moved")
	assert.Equal(t, indexes{principals: []string{"bob|k1"}, expiry: []string{"k1", "k2"}}, readIndexes(t, s))

	empty := ""
	_, err = s.Apply(ctx, "k1", &sessions.Delta{Principal: &empty})
	require.NoError(t, err)
	assert.Empty(t, readIndexes(t, s).principals, "clearing the principal unindexes it")
	_, err = s.Apply(ctx, "k1", &sessions.Delta{Principal: &bob})
	require.NoError(t, err)

	_, err = s.Load(ctx, "k2", &sessions.Touch{Before: now.Add(2 * time.Hour), IdleExp: now.Add(3 * time.Hour)})
	require.NoError(t, err)
	stamp, _ := expiryEntry(t, s, "k2")
	assert.Equal(t, expiryStamp(now.Add(3*time.Hour)), stamp, "touch moved the expiry entry")

	_, err = s.Regenerate(ctx, "k1", "k3", &sessions.Delta{})
	require.NoError(t, err)
	assert.Equal(t, indexes{principals: []string{"bob|k3"}, expiry: []string{"k2", "k3"}}, readIndexes(t, s))

	require.NoError(t, s.Delete(ctx, "k3"))
	require.NoError(t, s.Delete(ctx, "k2"))
	assert.Equal(t, indexes{}, readIndexes(t, s))
	assert.Zero(t, rawCount(t, s))
}

func TestExpiryIndexIsCappedAtAbsExp(t *testing.T) {
	clock := clocktest.New()
	s, _ := openTest(t, Options{Clock: clock.Now})
	ctx := context.Background()
	rec := newRecord(clock.Now(), "")
	require.NoError(t, s.Create(ctx, "k", rec))
	_, err := s.Apply(ctx, "k", &sessions.Delta{IdleExp: rec.AbsExp.Add(time.Hour)})
	require.NoError(t, err)
	stamp, ok := expiryEntry(t, s, "k")
	require.True(t, ok)
	assert.Equal(t, expiryStamp(rec.AbsExp), stamp)
}

func TestLoadTouchWritesOnlyWhenDue(t *testing.T) {
	clock := clocktest.New()
	s, _ := openTest(t, Options{Clock: clock.Now})
	ctx := context.Background()
	now := clock.Now()
	require.NoError(t, s.Create(ctx, "k", newRecord(now, "")))

	tx := lastTxID(t, s)
	notDue := &sessions.Touch{Before: now.Add(30 * time.Minute), IdleExp: now.Add(2 * time.Hour)}
	got, err := s.Load(ctx, "k", notDue)
	require.NoError(t, err)
	assert.True(t, got.IdleExp.Equal(now.Add(time.Hour)))
	assert.Equal(t, tx, lastTxID(t, s), "no write transaction when the touch is not due")

	due := &sessions.Touch{Before: now.Add(90 * time.Minute), IdleExp: now.Add(2 * time.Hour)}
	got, err = s.Load(ctx, "k", due)
	require.NoError(t, err)
	assert.True(t, got.IdleExp.Equal(now.Add(2*time.Hour)))
	assert.Equal(t, int64(1), got.Version, "a touch does not bump the version")
	assert.Equal(t, tx+1, lastTxID(t, s))
}

func TestConcurrentDueTouchesCommitOnce(t *testing.T) {
	clock := clocktest.New()
	s, _ := openTest(t, Options{Clock: clock.Now})
	ctx := context.Background()
	now := clock.Now()
	require.NoError(t, s.Create(ctx, "k", newRecord(now, "")))
	tx := lastTxID(t, s)

	touch := &sessions.Touch{Before: now.Add(90 * time.Minute), IdleExp: now.Add(2 * time.Hour)}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			got, err := s.Load(ctx, "k", touch)
			if assert.NoError(t, err) {
				assert.True(t, got.IdleExp.Equal(touch.IdleExp))
			}
		})
	}
	wg.Wait()
	assert.Equal(t, tx+1, lastTxID(t, s), "losers of the race roll back instead of committing")
}

func TestUseAfterClose(t *testing.T) {
	s, _ := openTest(t, Options{SweepInterval: time.Hour})
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	ctx := context.Background()
	_, err := s.Load(ctx, "k", nil)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, s.Create(ctx, "k", newRecord(time.Now(), "")), ErrClosed)
	_, err = s.ByPrincipal(ctx, "p")
	assert.ErrorIs(t, err, ErrClosed)
}

func TestCancelledContextWritesNothing(t *testing.T) {
	clock := clocktest.New()
	s, _ := openTest(t, Options{Clock: clock.Now})
	require.NoError(t, s.Create(context.Background(), "k", newRecord(clock.Now(), "p")))
	tx := lastTxID(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()

	_, err := s.Load(ctx, "k", nil)
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, s.Create(ctx, "k2", newRecord(clock.Now(), "")), context.Canceled)
	_, err = s.Apply(ctx, "k", &sessions.Delta{})
	assert.ErrorIs(t, err, context.Canceled)
	_, err = s.Regenerate(ctx, "k", "k2", &sessions.Delta{})
	assert.ErrorIs(t, err, context.Canceled)
	assert.ErrorIs(t, s.Delete(ctx, "k"), context.Canceled)
	_, err = s.ByPrincipal(ctx, "p")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, tx, lastTxID(t, s), "nothing was written")
}

// cancelAfterFirstCheck is a context that is done from the second call to
// Err on: it stands for one cancelled while its method waited for bbolt's
// writer lock.
type cancelAfterFirstCheck struct {
	context.Context
	checks atomic.Int32
}

func (c *cancelAfterFirstCheck) Err() error {
	if c.checks.Add(1) > 1 {
		return context.Canceled
	}
	return nil
}

func TestContextCancelledWhileWaitingForWriterLock(t *testing.T) {
	clock := clocktest.New()
	s, _ := openTest(t, Options{Clock: clock.Now})
	bg := context.Background()
	now := clock.Now()
	require.NoError(t, s.Create(bg, "k", newRecord(now, "p")))
	tx := lastTxID(t, s)
	late := func() context.Context { return &cancelAfterFirstCheck{Context: bg} }

	_, err := s.Apply(late(), "k", &sessions.Delta{Set: map[string]json.RawMessage{"a": json.RawMessage(`1`)}})
	assert.ErrorIs(t, err, context.Canceled, "Apply")
	assert.ErrorIs(t, s.Create(late(), "k2", newRecord(now, "")), context.Canceled, "Create")
	_, err = s.Regenerate(late(), "k", "k2", &sessions.Delta{})
	assert.ErrorIs(t, err, context.Canceled, "Regenerate")
	assert.ErrorIs(t, s.Delete(late(), "k"), context.Canceled, "Delete")
	assert.Equal(t, tx, lastTxID(t, s), "nothing was written")
}

func TestConcurrentAppliesOfDistinctAttributes(t *testing.T) {
	clock := clocktest.New()
	s, _ := openTest(t, Options{Clock: clock.Now})
	ctx := context.Background()
	require.NoError(t, s.Create(ctx, "k", &sessions.Record{
		Version: 1, Created: clock.Now(), IdleExp: clock.Now().Add(time.Hour), AbsExp: clock.Now().Add(time.Hour),
	}))
	const n = 16
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.Apply(ctx, "k", &sessions.Delta{
				Set: map[string]json.RawMessage{fmt.Sprint("a", i): json.RawMessage(fmt.Sprint(i))},
			})
			assert.NoError(t, err)
			_, err = s.Load(ctx, "k", nil)
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	got, err := s.Load(ctx, "k", nil)
	require.NoError(t, err)
	assert.Len(t, got.Attrs, n)
	assert.Equal(t, int64(n+1), got.Version)
}

func TestRegenerateOntoLiveKeyIsErrExists(t *testing.T) {
	clock := clocktest.New()
	s, _ := openTest(t, Options{Clock: clock.Now})
	ctx := context.Background()
	require.NoError(t, s.Create(ctx, "old", newRecord(clock.Now(), "")))
	require.NoError(t, s.Create(ctx, "new", newRecord(clock.Now(), "")))
	_, err := s.Regenerate(ctx, "old", "new", &sessions.Delta{})
	assert.ErrorIs(t, err, sessions.ErrExists)
	_, err = s.Load(ctx, "old", nil)
	assert.NoError(t, err, "old key untouched")
}

func TestRegenerateOntoSameKeyUpdatesInPlace(t *testing.T) {
	clock := clocktest.New()
	s, _ := openTest(t, Options{Clock: clock.Now})
	ctx := context.Background()
	require.NoError(t, s.Create(ctx, "k", newRecord(clock.Now(), "p")))
	got, err := s.Regenerate(ctx, "k", "k", &sessions.Delta{})
	require.NoError(t, err)
	assert.Equal(t, int64(2), got.Version)
	loaded, err := s.Load(ctx, "k", nil)
	require.NoError(t, err)
	assert.Equal(t, int64(2), loaded.Version)
	assert.Equal(t, indexes{principals: []string{"p|k"}, expiry: []string{"k"}}, readIndexes(t, s))
}
