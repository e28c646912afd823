package lockservice_test

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/lockservice"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

const (
	// clients contend for one lock, each through its own HTTP connection,
	// each taking it rounds times.
	clients = 20
	rounds  = 25
	// instances is the number of Sidecars (Handler and Locker each)
	// sharing the lock's Redis, the clients spread over them.
	instances = 4
	// pause is how long a holder waits between reading the counter and
	// writing it back: long enough that an overlap loses updates.
	pause = 200 * time.Microsecond
	// maxWait bounds each acquire's wait; like the lease's ttl (1m) it is
	// far above what a round needs, so that a client starved on a busy
	// machine waits on instead of failing the test.
	maxWait = 2 * time.Minute
)

// grantRecord is one acquisition, in the order clients got the lock.
type grantRecord struct {
	order  int
	fence  int64
	client int
}

// The proof the lock service exists for: 20 HTTP clients, spread over 4
// Sidecar instances sharing one Redis, increment a counter guarded by
// nothing but the service's lock (read, pause, write back). No update is
// lost, so no two clients ever held the lock at once, and the fences,
// taken in the order the lock was granted, strictly increase.
func TestMutualExclusionAcrossInstances(t *testing.T) {
	srv := redistest.Start(t)
	var envs []*env
	for range instances {
		envs = append(envs, serve(t, lock.NewRedis(srv.Client(t), lock.Options{Prefix: "mutex:"}), lockservice.Options{MaxWait: maxWait}))
	}
	for _, e := range envs {
		t.Cleanup(func() { _ = e.locker.Close() })
	}

	counter := 0 // guarded by the lock service alone
	var (
		mu     sync.Mutex // guards grants, the test's record only
		grants []grantRecord
	)
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		e := envs[c%instances]
		client := &http.Client{Transport: &http.Transport{}} // a connection of its own
		t.Cleanup(client.CloseIdleConnections)
		wg.Go(func() {
			for range rounds {
				var l lockservice.Lease
				status, er, err := e.call(client, "/locks/counter/acquire?ttl=1m&wait="+maxWait.String(), &l)
				if !assert.NoError(t, err) || !assert.Equal(t, http.StatusOK, status, "client %d: %+v", c, er) {
					return
				}
				mu.Lock()
				grants = append(grants, grantRecord{order: len(grants), fence: l.Fence, client: c})
				mu.Unlock()

				v := counter
				time.Sleep(pause)
				counter = v + 1

				status, er, err = e.call(client, "/locks/counter/release?token="+l.Token, nil)
				if !assert.NoError(t, err) || !assert.Equal(t, http.StatusOK, status, "client %d: the lease ran out: %+v", c, er) {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	require.Equal(t, clients*rounds, counter, "lost updates: two clients held the lock at once")
	require.Len(t, grants, clients*rounds)
	for i := 1; i < len(grants); i++ {
		prev, g := grants[i-1], grants[i]
		require.Greater(t, g.fence, prev.fence,
			"acquisition %d (client %d) got fence %d, not above acquisition %d's (client %d) %d",
			g.order, g.client, g.fence, prev.order, prev.client, prev.fence)
	}
	var s lock.Stats
	for _, e := range envs {
		st := e.locker.Stats()
		s.Acquired += st.Acquired
		s.Contended += st.Contended
		s.Notified += st.Notified
		s.Lost += st.Lost
	}
	assert.Equal(t, int64(clients*rounds), s.Acquired)
	assert.Zero(t, s.Lost)
	t.Logf("%d clients × %d rounds over %d instances: counter %d, %d fences strictly increasing, "+
		"%v (%v per hand-over); %d contended, %d woken by notification",
		clients, rounds, instances, counter, len(grants), elapsed.Round(time.Millisecond),
		(elapsed / time.Duration(clients*rounds)).Round(time.Microsecond), s.Contended, s.Notified)
}

// The counter check has teeth: the same clients without the lock lose
// updates. (The counter is atomic here only so that the race detector
// does not stop the test: a load then a store is no atomic increment.)
func TestCounterLosesUpdatesWithoutTheLock(t *testing.T) {
	var counter atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for range rounds {
				v := counter.Load()
				time.Sleep(pause)
				counter.Store(v + 1)
			}
		})
	}
	wg.Wait()
	assert.Less(t, counter.Load(), int64(clients*rounds), "without the lock, updates are lost")
}
