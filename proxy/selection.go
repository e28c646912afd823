package proxy

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Policy names how a request's upstream is chosen among the available ones.
type Policy string

// Selection policies. Weights apply to both.
const (
	// RoundRobin takes upstreams in turn (smooth weighted round robin when
	// weights differ). The default.
	RoundRobin Policy = "round_robin"
	// LeastConn takes the upstream with the fewest in-flight requests per
	// unit of weight, breaking ties at random.
	LeastConn Policy = "least_conn"
)

// Validate reports whether p is one of the policies. "" is not one:
// PoolOptions reads it as RoundRobin before it validates. The error names
// the value and the accepted ones, without context, for the caller to
// prefix with the field or configuration key.
func (p Policy) Validate() error {
	switch p {
	case RoundRobin, LeastConn:
		return nil
	}
	return fmt.Errorf("%q is not one of %s, %s", string(p), RoundRobin, LeastConn)
}

// selector picks one of the candidates, which are never empty, skipping
// those unavailable (only draining ones in panic mode) or already
// tried by this request. It returns nil when every candidate is skipped.
type selector interface {
	pick(bs []*Backend, tried []*Backend, panicking bool) *Backend
}

// skip reports whether b must not be chosen: unavailable (in panic
// mode: draining), or already tried by this request. A plain function
// rather than a closure, so choosing an upstream allocates nothing.
func skip(b *Backend, tried []*Backend, panicking bool) bool {
	if panicking && b.draining.Load() || !panicking && !b.available() {
		return true
	}
	for _, t := range tried {
		if t == b {
			return true
		}
	}
	return false
}

func newSelector(p Policy, bs []*Backend) selector {
	if p == LeastConn {
		return leastConn{}
	}
	for _, b := range bs {
		if b.weight.Load() != bs[0].weight.Load() {
			return &weightedRR{current: make(map[*Backend]int64, len(bs))}
		}
	}
	return &plainRR{}
}

// plainRR is lock-free round robin for equal weights: an atomic cursor,
// then the first candidate from there that is not skipped.
type plainRR struct{ next atomic.Uint64 }

func (rr *plainRR) pick(bs []*Backend, tried []*Backend, panicking bool) *Backend {
	n := uint64(len(bs))
	start := rr.next.Add(1) - 1
	for i := uint64(0); i < n; i++ {
		if b := bs[(start+i)%n]; !skip(b, tried, panicking) {
			return b
		}
	}
	return nil
}

// weightedRR is nginx's smooth weighted round robin: each pick adds every
// candidate's weight to its running score, takes the highest, and
// subtracts the total from the winner. Picks interleave (a,a,b for 2:1
// gives a,b,a) instead of bunching.
type weightedRR struct {
	mu      sync.Mutex
	current map[*Backend]int64
}

func (w *weightedRR) pick(bs []*Backend, tried []*Backend, panicking bool) *Backend {
	w.mu.Lock()
	defer w.mu.Unlock()
	var best *Backend
	var total int64
	for _, b := range bs {
		if skip(b, tried, panicking) {
			continue
		}
		wt := b.weight.Load()
		w.current[b] += wt
		total += wt
		if best == nil || w.current[b] > w.current[best] {
			best = b
		}
	}
	if best != nil {
		w.current[best] -= total
	}
	return best
}

// leastConn picks the minimum of inflight/weight, comparing
// inflight_a*weight_b with inflight_b*weight_a to stay in integers.
type leastConn struct{}

func (leastConn) pick(bs []*Backend, tried []*Backend, panicking bool) *Backend {
	var best *Backend
	var bestLoad, bestWeight int64
	ties := 0
	for _, b := range bs {
		if skip(b, tried, panicking) {
			continue
		}
		load, wt := b.inflight.Load(), b.weight.Load()
		switch {
		case best == nil || load*bestWeight < bestLoad*wt:
			best, bestLoad, bestWeight, ties = b, load, wt, 1
		case load*bestWeight == bestLoad*wt:
			ties++
			if rand.IntN(ties) == 0 { // reservoir sampling over the ties
				best, bestLoad, bestWeight = b, load, wt
			}
		}
	}
	return best
}
