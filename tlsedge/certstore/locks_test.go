package certstore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/tlsedge/certstore"
)

// lockName is a lock name as certmagic makes them.
const lockName = "issue_cert_a.example"

func lockCases() []suiteCase {
	return []suiteCase{
		{"lock excludes another instance until unlock", func(t *testing.T, e *env) {
			a, b := e.instance(t, certstore.Options{}), e.instance(t, certstore.Options{})
			require.NoError(t, a.Lock(ctx(t), lockName))
			ok, err := b.TryLock(ctx(t), lockName)
			require.NoError(t, err)
			assert.False(t, ok, "TryLock while another holds it")

			got := make(chan error, 1)
			go func() { got <- b.Lock(ctx(t), lockName) }()
			waitFor(t, "b to wait for the lock", func() bool { return b.locker.Stats().Waiting == 1 })
			select {
			case err := <-got:
				t.Fatalf("b's Lock returned while a held the lock: %v", err)
			default:
			}
			require.NoError(t, a.Unlock(ctx(t), lockName))
			select {
			case err := <-got:
				require.NoError(t, err)
			case <-ctx(t).Done():
				t.Fatalf("b's Lock did not return within %v of the unlock", waitBound)
			}
			ok, err = a.TryLock(ctx(t), lockName)
			require.NoError(t, err)
			assert.False(t, ok, "b holds it now")
			require.NoError(t, b.Unlock(ctx(t), lockName))
			ok, err = a.TryLock(ctx(t), lockName)
			require.NoError(t, err)
			assert.True(t, ok, "free again")
			require.NoError(t, a.Unlock(ctx(t), lockName))
		}},
		{"one holder at a time among many", func(t *testing.T, e *env) {
			insts := []*instance{e.instance(t, certstore.Options{}), e.instance(t, certstore.Options{})}
			var inside, most, entries atomic.Int64
			var wg sync.WaitGroup
			for i := range 8 {
				s := insts[i%2] // goroutines of one instance contend too
				wg.Go(func() {
					for range 5 {
						if !assert.NoError(t, s.Lock(ctx(t), lockName)) {
							return
						}
						n := inside.Add(1)
						for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
						}
						entries.Add(1)
						inside.Add(-1)
						assert.NoError(t, s.Unlock(ctx(t), lockName))
					}
				})
			}
			wg.Wait()
			assert.Equal(t, int64(40), entries.Load())
			assert.Equal(t, int64(1), most.Load(), "never two holders at once")
		}},
		{"a lock whose holder vanished is free after its TTL", func(t *testing.T, e *env) {
			opts := certstore.Options{LockTTL: shortTTL}
			a, b, c := e.instance(t, opts), e.instance(t, opts), e.instance(t, opts)
			require.NoError(t, a.Lock(ctx(t), lockName))
			a.cut.Store(true) // a's keep-alive now fails, and a never unlocks

			require.NoError(t, b.Lock(ctx(t), lockName), "b gets the lock once a's lease runs out")
			ok, err := c.TryLock(ctx(t), lockName)
			require.NoError(t, err)
			assert.False(t, ok, "b holds it")

			a.cut.Store(false) // a comes back and finishes its work
			err = a.Unlock(ctx(t), lockName)
			require.ErrorIs(t, err, lock.ErrNotHeld, "a is told it lost the lock")
			ok, err = c.TryLock(ctx(t), lockName)
			require.NoError(t, err)
			assert.False(t, ok, "a's late Unlock did not release b's lock")
			require.NoError(t, b.Unlock(ctx(t), lockName))
		}},
		{"a lock held past its TTL is kept alive", func(t *testing.T, e *env) {
			opts := certstore.Options{LockTTL: shortTTL}
			a, b := e.instance(t, opts), e.instance(t, opts)
			require.NoError(t, a.Lock(ctx(t), lockName))
			// Three extensions, each a third of the TTL after the last:
			// the lock has been held for a whole TTL.
			waitFor(t, "three extensions", func() bool { return a.locker.Stats().Extended >= 3 })
			ok, err := b.TryLock(ctx(t), lockName)
			require.NoError(t, err)
			assert.False(t, ok, "still held")
			require.NoError(t, a.RenewLockLease(ctx(t), lockName, 0))
			require.NoError(t, a.Unlock(ctx(t), lockName))
			assert.Equal(t, int64(0), a.locker.Stats().Lost)
		}},
		{"lock honours its context", func(t *testing.T, e *env) {
			a, b := e.instance(t, certstore.Options{}), e.instance(t, certstore.Options{})
			require.NoError(t, a.Lock(ctx(t), lockName))
			cctx, cancel := context.WithCancel(ctx(t))
			got := make(chan error, 1)
			go func() { got <- b.Lock(cctx, lockName) }()
			waitFor(t, "b to wait for the lock", func() bool { return b.locker.Stats().Waiting == 1 })
			cancel()
			err := <-got
			require.ErrorIs(t, err, context.Canceled)
			assert.ErrorIs(t, err, lock.ErrNotObtained)
			require.ErrorIs(t, b.Unlock(ctx(t), lockName), lock.ErrNotHeld, "b holds nothing")
			require.NoError(t, a.Unlock(ctx(t), lockName))
		}},
		{"unlock and renew of a lock not held", func(t *testing.T, e *env) {
			a := e.instance(t, certstore.Options{})
			require.ErrorIs(t, a.Unlock(ctx(t), lockName), lock.ErrNotHeld)
			require.ErrorIs(t, a.RenewLockLease(ctx(t), lockName, 0), lock.ErrNotHeld)
			require.NoError(t, a.Lock(ctx(t), lockName))
			require.NoError(t, a.Unlock(ctx(t), lockName))
			require.ErrorIs(t, a.Unlock(ctx(t), lockName), lock.ErrNotHeld, "unlocked twice")
		}},
		{"close releases every lock held", func(t *testing.T, e *env) {
			a, b := e.instance(t, certstore.Options{}), e.instance(t, certstore.Options{})
			require.NoError(t, a.Lock(ctx(t), lockName))
			ok, err := a.TryLock(ctx(t), "storage_clean")
			require.NoError(t, err)
			require.True(t, ok)
			require.NoError(t, a.Close())
			for _, name := range []string{lockName, "storage_clean"} {
				ok, err := b.TryLock(ctx(t), name)
				require.NoError(t, err)
				assert.True(t, ok, name)
			}
			require.ErrorIs(t, a.Lock(ctx(t), "other"), certstore.ErrClosed)
			_, err = a.TryLock(ctx(t), "other")
			require.ErrorIs(t, err, certstore.ErrClosed)
			require.ErrorIs(t, a.Unlock(ctx(t), lockName), lock.ErrNotHeld)
			require.NoError(t, a.Store(ctx(t), "still/works", []byte("v")), "storage outlives Close")
		}},
		{"redis down: trylock fails rather than report contention", func(t *testing.T, e *env) {
			a := e.instance(t, certstore.Options{})
			a.cut.Store(true)
			ok, err := a.TryLock(ctx(t), lockName)
			assert.False(t, ok)
			require.ErrorIs(t, err, lock.ErrUnavailable)
		}},
	}
}
