package lock_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/lock"
)

// A Locker on one Redis (standalone, Sentinel or Cluster: any go-redis
// UniversalClient).
func ExampleNewRedis() {
	client := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: []string{"127.0.0.1:6379"},
		// Let contexts bound every Redis call.
		ContextTimeoutEnabled: true,
	})
	defer client.Close()
	locker := lock.NewRedis(client, lock.Options{Prefix: "myapp:lock:"})
	defer locker.Close()

	// Optional, at startup: waiters poll if release notifications fail.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := locker.Listen(ctx); err != nil {
		log.Printf("lock: waiters will poll: %v", err)
	}
}

// A Locker on three independent Redis masters: locks are granted while
// two of them answer.
func ExampleNewRedlock() {
	var clients []lock.Client
	for _, addr := range []string{"10.0.0.1:6379", "10.0.0.2:6379", "10.0.0.3:6379"} {
		c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
		defer c.Close()
		clients = append(clients, c)
	}
	locker, err := lock.NewRedlock(clients, lock.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer locker.Close()
}

// Hold a lock while work runs, extending it as needed, and stop the work
// if the lease is lost.
func ExampleLease_KeepAlive() {
	locker := lock.NewLocal(lock.Options{})
	ctx := context.Background()
	lease, err := locker.Acquire(ctx, "report", 3*time.Second, 10*time.Second)
	if errors.Is(err, lock.ErrNotObtained) {
		fmt.Println("busy, try later")
		return
	}
	defer lease.Release(context.WithoutCancel(ctx))
	work, stop := lease.KeepAlive(ctx)
	defer stop()

	select { // the work, which must honour work's cancellation
	case <-work.Done():
		fmt.Println("lease lost:", context.Cause(work))
	default:
		fmt.Println("done")
	}
	// Output: done
}

// fencedStore is a resource that accepts writes only in fence order, as a
// resource protected by the lock must.
type fencedStore struct {
	mu   sync.Mutex
	last int64
	data string
}

func (s *fencedStore) Write(fence int64, data string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if fence < s.last {
		return fmt.Errorf("stale fence %d: %d was seen", fence, s.last)
	}
	s.last, s.data = fence, data
	return nil
}

// Why fencing numbers matter: a holder paused past its lease writes late,
// after the next holder; the resource refuses the late write because its
// fence is lower.
func Example_fencing() {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	pause := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }

	locker := lock.NewLocal(lock.Options{Clock: clock})
	store := &fencedStore{}
	ctx := context.Background()

	a, _ := locker.Acquire(ctx, "doc", time.Second, 0)
	pause(2 * time.Second) // A stalls (a GC pause, say); its lease expires
	b, _ := locker.Acquire(ctx, "doc", time.Second, 0)
	fmt.Println("B writes:", store.Write(b.Fence(), "from B"))
	err := store.Write(a.Fence(), "from A") // A wakes up, unaware
	fmt.Println("A's late write refused:", err != nil)
	fmt.Println("kept:", store.data)
	// Output:
	// B writes: <nil>
	// A's late write refused: true
	// kept: from B
}
