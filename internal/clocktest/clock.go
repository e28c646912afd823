// Package clocktest is the one fake clock every test in the tree uses: a
// clock that moves only when a test says so.
package clocktest

import (
	"fmt"
	"sync"
	"time"
)

// Clock is a fake clock a test controls. It starts at the real time
// truncated to the millisecond and moves only when Advance is called: only
// forward and only by whole milliseconds. So every time it returns is
// millisecond-exact (what Redis keeps) and never earlier than the real time
// at which it started, which lets a store set real backend deadlines (Redis
// PEXPIREAT) from it.
//
// The zero value is ready to use and starts at the real time of its first
// use; New starts it at once. A Clock is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a Clock set to time.Now truncated to the millisecond.
func New() *Clock {
	return &Clock{now: time.Now().Truncate(time.Millisecond)}
}

// Now returns the clock's current time. Pass the method value c.Now where a
// func() time.Time is wanted.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.start()
	return c.now
}

// Advance moves the clock forward by d, rounded up to a whole millisecond.
// It panics if d is negative: the clock never goes back.
func (c *Clock) Advance(d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("clocktest: Clock.Advance(%v): the clock only moves forward", d))
	}
	if r := d % time.Millisecond; r != 0 {
		d += time.Millisecond - r
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.start()
	c.now = c.now.Add(d)
}

// start sets a zero clock to the real time. c.mu must be held.
func (c *Clock) start() {
	if c.now.IsZero() {
		c.now = time.Now().Truncate(time.Millisecond)
	}
}
