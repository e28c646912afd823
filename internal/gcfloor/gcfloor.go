// Package gcfloor keeps Go's garbage collector from running while the
// heap is small. A proxy keeps little alive (a few MiB) but allocates some
// KiB per request, so at GOGC=100 the collector starts a cycle every few
// MiB: hundreds of cycles a second under load, each with its write
// barriers, assists and background workers taking CPU from the requests.
// A floor lets the heap grow to a set size before the collector runs;
// above it the collector works as GOGC=100 does.
//
// The runtime has no such setting (GOMEMLIMIT is a ceiling), so [Start]
// moves the GC percentage: every [Interval] it reads the live heap and
// sets the percentage that puts the next collection at the floor, never
// below 100. The operator's own GOGC wins: with GOGC in the environment
// Start does nothing. A GOMEMLIMIT still bounds the heap as it always
// does.
package gcfloor

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// DefaultMinHeap is the floor Sidecar ships with: 32 MiB, eight times
// the 4 MiB at which Go's collector runs on its own, and small beside the
// memory a proxy's container is usually given.
const DefaultMinHeap = 32 << 20

// Interval is how often Start looks at the live heap.
const Interval = time.Second

// runtimeMinHeap is the heap at which Go collects on its own at GOGC=100.
// The runtime scales it with the percentage (4 MiB × GOGC/100), so a
// percentage above floor/runtimeMinHeap would move the first
// collections past the floor.
const runtimeMinHeap = 4 << 20

// Percent is the GC percentage that makes the heap target floor given
// live bytes alive after the last collection: floor/live-1 as a
// percentage, at least 100 and at most floor/4 MiB (see runtimeMinHeap).
func Percent(floor, live uint64) int {
	most := floor * 100 / runtimeMinHeap
	switch {
	case floor <= 2*live || most <= 100:
		return 100
	case live == 0 || floor*100/live-100 > most:
		return int(most)
	}
	return int(floor*100/live - 100)
}

// Start keeps the heap target at floor bytes or more until the returned
// stop is called, which puts the percentage back to what it was. It does
// nothing when floor is 0 or GOGC is set in the environment.
func Start(floor uint64) (stop func()) {
	if floor == 0 || os.Getenv("GOGC") != "" {
		return func() {}
	}
	t := &tuner{floor: floor, live: liveHeap, set: debug.SetGCPercent, done: make(chan struct{}), exited: make(chan struct{})}
	old := t.adjust()
	go t.run(Interval)
	var once sync.Once
	return func() {
		once.Do(func() {
			close(t.done)
			<-t.exited
			debug.SetGCPercent(old)
		})
	}
}

// tuner moves the GC percentage; live and set are the runtime's, or a
// test's.
type tuner struct {
	floor  uint64
	live   func() uint64
	set    func(int) int
	last   int // the percentage set last; 0 before the first
	done   chan struct{}
	exited chan struct{}
}

// adjust sets the percentage for the live heap now when it moved by more
// than a tenth, and returns the percentage in force before the first
// call.
func (t *tuner) adjust() (before int) {
	p := Percent(t.floor, t.live())
	if t.last != 0 && p*10 >= t.last*9 && p*10 <= t.last*11 {
		return t.last
	}
	before = t.set(p)
	t.last = p
	return before
}

func (t *tuner) run(every time.Duration) {
	defer close(t.exited)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-t.done:
			return
		case <-tick.C:
			t.adjust()
		}
	}
}

// liveHeap is the heap the last collection found alive, in bytes.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
