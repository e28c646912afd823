// Package ratelog bounds what a storm of like events writes to the log:
// the first Burst events of each Window are logged one by one, the rest
// are only counted, and one summary line reports how many were left out
// once the window ends. Sidecar uses it for failed authentications on its
// own APIs (package httpauth) and for the Redis client's complaints during
// an outage (internal/logbridge), where one line per request would bury
// everything else.
//
// A window starts with the first event after the previous one ended. The
// summary is reported by whichever comes first after the window's end: the
// next event (Allow), or a timer armed when the window first suppresses an
// event, so that a storm that stops is still summed up.
package ratelog

import (
	"sync"
	"time"
)

// The defaults of Options' zero values.
const (
	DefaultBurst  = 5
	DefaultWindow = time.Minute
)

// Options configure a Limiter; every zero value is a stated default.
type Options struct {
	// Burst is how many events of one window are logged. 0 means
	// DefaultBurst (5); a negative value logs none (every event counts for
	// the summary).
	Burst int
	// Window is the length of a window. 0 means DefaultWindow (1m).
	Window time.Duration
	// Clock returns the current time; nil means time.Now. The summary
	// timer waits in real time for what the clock says is left of the
	// window.
	Clock func() time.Time
	// Report is called, outside the Limiter's lock, with the number of
	// events suppressed in a window that has ended (never 0). nil reports
	// nothing.
	Report func(suppressed int)
}

// Limiter decides, event by event, which ones are logged. It is safe for
// concurrent use. Build it with New.
type Limiter struct {
	o Options

	mu         sync.Mutex
	start      time.Time // of the current window; zero: none open
	logged     int
	suppressed int
	gen        uint64      // bumped when a window closes, so a stale timer does nothing
	timer      *time.Timer // armed while the window has suppressed events
}

// New returns a Limiter for o.
func New(o Options) *Limiter {
	if o.Burst == 0 {
		o.Burst = DefaultBurst
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return &Limiter{o: o}
}

// Allow reports whether an event happening now may be logged. When it
// returns false the event is counted for the window's summary.
func (l *Limiter) Allow() bool {
	now := l.o.Clock()
	l.mu.Lock()
	ended := 0
	if !l.start.IsZero() && now.Sub(l.start) >= l.o.Window {
		ended = l.closeLocked()
	}
	if l.start.IsZero() {
		l.start = now
	}
	ok := l.logged < l.o.Burst
	if ok {
		l.logged++
	} else {
		l.suppressed++
		if l.timer == nil {
			gen := l.gen
			// The timer's goroutine runs once, at the window's end, and
			// exits; Stop cancels it.
			l.timer = time.AfterFunc(l.start.Add(l.o.Window).Sub(now), func() { l.expire(gen) })
		}
	}
	l.mu.Unlock()
	l.report(ended)
	return ok
}

// Stop cancels a pending summary timer; the events it would have summed
// up are reported now instead. The Limiter stays usable.
func (l *Limiter) Stop() {
	l.mu.Lock()
	n := l.closeLocked()
	l.mu.Unlock()
	l.report(n)
}

// expire closes the window of generation gen when its timer fires, unless
// an event has closed it already.
func (l *Limiter) expire(gen uint64) {
	l.mu.Lock()
	n := 0
	if l.gen == gen {
		n = l.closeLocked()
	}
	l.mu.Unlock()
	l.report(n)
}

// closeLocked ends the current window and returns how many of its events
// were suppressed. l.mu must be held.
func (l *Limiter) closeLocked() int {
	n := l.suppressed
	l.start, l.logged, l.suppressed = time.Time{}, 0, 0
	l.gen++
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	return n
}

func (l *Limiter) report(n int) {
	if n > 0 && l.o.Report != nil {
		l.o.Report(n)
	}
}
