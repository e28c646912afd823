package ratelog

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
)

// reports collects what a Limiter reports.
type reports struct {
	mu sync.Mutex
	ns []int
}

func (r *reports) add(n int) { r.mu.Lock(); r.ns = append(r.ns, n); r.mu.Unlock() }

func (r *reports) get() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int(nil), r.ns...)
}

func allowed(l *Limiter, n int) int {
	ok := 0
	for range n {
		if l.Allow() {
			ok++
		}
	}
	return ok
}

func TestBurstThenSummaryOnTheNextWindowsFirstEvent(t *testing.T) {
	clock := clocktest.New()
	var got reports
	l := New(Options{Burst: 3, Window: time.Minute, Clock: clock.Now, Report: got.add})
	t.Cleanup(l.Stop)

	assert.Equal(t, 3, allowed(l, 10), "the first Burst events of a window are logged")
	assert.Empty(t, got.get(), "no summary while the window runs")
	clock.Advance(59 * time.Second)
	assert.False(t, l.Allow(), "still the same window")

	clock.Advance(time.Second)
	assert.True(t, l.Allow(), "a new window logs again")
	assert.Equal(t, []int{8}, got.get(), "the ended window's suppressed events, reported once")
	assert.Equal(t, 2, allowed(l, 2))
	assert.False(t, l.Allow())

	clock.Advance(time.Hour)
	assert.True(t, l.Allow())
	assert.Equal(t, []int{8, 1}, got.get())
}

func TestQuietWindowReportsNothing(t *testing.T) {
	clock := clocktest.New()
	var got reports
	l := New(Options{Burst: 5, Clock: clock.Now, Report: got.add})
	t.Cleanup(l.Stop)
	assert.Equal(t, 5, allowed(l, 5))
	clock.Advance(DefaultWindow)
	assert.Equal(t, 5, allowed(l, 5), "the default window is a minute")
	assert.Empty(t, got.get(), "nothing was suppressed")
}

func TestNegativeBurstLogsNone(t *testing.T) {
	clock := clocktest.New()
	var got reports
	l := New(Options{Burst: -1, Clock: clock.Now, Report: got.add})
	assert.Zero(t, allowed(l, 4))
	l.Stop()
	assert.Equal(t, []int{4}, got.get(), "Stop reports what was pending")
	assert.Zero(t, allowed(l, 1), "usable after Stop")
	l.Stop()
	assert.Equal(t, []int{4, 1}, got.get())
}

// TestTimerReportsAStormThatStopped: without a further event, the timer
// armed at the first suppressed event reports the window once it ends.
func TestTimerReportsAStormThatStopped(t *testing.T) {
	var got reports
	l := New(Options{Burst: 1, Window: 50 * time.Millisecond, Report: got.add})
	t.Cleanup(l.Stop)
	assert.Equal(t, 1, allowed(l, 4))
	require.Eventually(t, func() bool { return len(got.get()) == 1 }, 10*time.Second, 5*time.Millisecond)
	assert.Equal(t, []int{3}, got.get())
	assert.True(t, l.Allow(), "the timer closed the window: the next event opens a new one")
}

func TestConcurrentEvents(t *testing.T) {
	clock := clocktest.New()
	var reported atomic.Int64
	l := New(Options{Burst: 10, Clock: clock.Now, Report: func(n int) { reported.Add(int64(n)) }})
	var ok atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok.Add(int64(allowed(l, 100)))
		}()
	}
	wg.Wait()
	l.Stop()
	assert.Equal(t, int64(10), ok.Load())
	assert.Equal(t, int64(790), reported.Load(), "every event is logged or counted, once")
}
