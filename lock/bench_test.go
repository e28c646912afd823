package lock_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// benchLockers returns, for each implementation, a function making
// Lockers with opts on one shared backend (a new Locker per call for
// Redis, like a separate client process; one Locker for Local).
func benchLockers(b *testing.B) []struct {
	name string
	make func(opts lock.Options) *lock.Locker
} {
	single := []lock.Client{redistest.Start(b).Client(b)}
	var three []lock.Client
	for range 3 {
		three = append(three, redistest.Start(b).Client(b))
	}
	redis := func(cs []lock.Client) func(lock.Options) *lock.Locker {
		return func(opts lock.Options) *lock.Locker {
			l, err := lock.NewRedlock(cs, opts)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = l.Close() })
			return l
		}
	}
	locals := map[bool]*lock.Locker{}
	return []struct {
		name string
		make func(opts lock.Options) *lock.Locker
	}{
		{"Redis", redis(single)},
		{"Redlock3", redis(three)},
		{"Local", func(opts lock.Options) *lock.Locker {
			if locals[opts.NoNotify] == nil {
				locals[opts.NoNotify] = lock.NewLocal(opts)
			}
			return locals[opts.NoNotify]
		}},
	}
}

// BenchmarkAcquireRelease is an uncontended Acquire followed by Release.
func BenchmarkAcquireRelease(b *testing.B) {
	ctx := context.Background()
	for _, im := range benchLockers(b) {
		b.Run(im.name, func(b *testing.B) {
			l := im.make(lock.Options{})
			key := randomKey()
			b.ReportAllocs()
			for b.Loop() {
				lease, err := l.Acquire(ctx, key, 10*time.Second, 0)
				if err != nil {
					b.Fatal(err)
				}
				if err := lease.Release(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandover times, per operation, a hand-over: from the holder's
// Release to the waiting Acquire's return, woken by the release
// notification or by polling (default RetryMin/RetryMax: 10ms/200ms,
// jittered). Only the hand-over is timed; taking the lock and getting the
// waiter waiting is not.
func BenchmarkHandover(b *testing.B) {
	ctx := context.Background()
	for _, im := range benchLockers(b) {
		for _, mode := range []struct {
			name string
			opts lock.Options
		}{
			{"Notify", lock.Options{}},
			{"Poll", lock.Options{NoNotify: true}},
		} {
			b.Run(im.name+"/"+mode.name, func(b *testing.B) {
				holder, waiter := im.make(mode.opts), im.make(mode.opts)
				if err := waiter.Listen(ctx); err != nil {
					b.Fatal(err)
				}
				key := randomKey()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					b.StopTimer()
					h, err := holder.Acquire(ctx, key, 10*time.Second, 10*time.Second)
					if err != nil {
						b.Fatal(err)
					}
					got := make(chan *lock.Lease, 1)
					go func() {
						lease, err := waiter.Acquire(ctx, key, 10*time.Second, 10*time.Second)
						if err != nil {
							b.Error(err)
						}
						got <- lease
					}()
					for waiter.Stats().Waiting == 0 {
						runtime.Gosched()
					}
					b.StartTimer()
					if err := h.Release(ctx); err != nil {
						b.Fatal(err)
					}
					lease := <-got
					b.StopTimer()
					if lease == nil {
						b.FailNow()
					}
					if err := lease.Release(ctx); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
			})
		}
	}
}
