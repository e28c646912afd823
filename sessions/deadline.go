package sessions

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineCtx is the context of one store operation: its parent with a
// deadline, as context.WithDeadline makes it, but without the timer,
// the cancel function and the registration with the parent until a store
// needs them. A store that answers from memory (the memory store, bolt's
// reads, a cache hit) only asks Err or Deadline, and costs none of them;
// one that waits (Done), or asks for a value (which may be the context
// package's own bookkeeping: context.Cause, a context derived from this
// one), gets the real context, made then (arm), and from then on every
// question goes to it. Before that, Err answers from the parent and the
// clock, and makes the real context as soon as its answer would be an
// error, so that Err and Done never disagree.
type deadlineCtx struct {
	parent   context.Context
	deadline time.Time

	once    sync.Once
	real    context.Context // set by arm
	cancel  context.CancelFunc
	armed   atomic.Bool // real is set
	stopped atomic.Bool // the operation is over: real is canceled once made
}

var _ context.Context = (*deadlineCtx)(nil)

func newDeadlineCtx(parent context.Context, timeout time.Duration) *deadlineCtx {
	return &deadlineCtx{parent: parent, deadline: time.Now().Add(timeout)}
}

// arm makes the real context, once.
func (c *deadlineCtx) arm() context.Context {
	c.once.Do(func() {
		c.real, c.cancel = context.WithDeadline(c.parent, c.deadline)
		c.armed.Store(true)
		if c.stopped.Load() {
			c.cancel()
		}
	})
	return c.real
}

// stop ends the operation, as the cancel function of context.WithDeadline
// does: the context reports context.Canceled from now on (unless it ended
// before), and its timer, if one was made, is released.
func (c *deadlineCtx) stop() {
	c.stopped.Store(true) // before armed is read: see arm
	if c.armed.Load() {
		c.cancel()
	}
}

// Deadline is the earlier of the parent's deadline and this one.
func (c *deadlineCtx) Deadline() (time.Time, bool) {
	if d, ok := c.parent.Deadline(); ok && d.Before(c.deadline) {
		return d, true
	}
	return c.deadline, true
}

// Done arms the context: whoever waits gets the real one's channel.
func (c *deadlineCtx) Done() <-chan struct{} { return c.arm().Done() }

// Err is nil while the parent is live, the deadline ahead and the
// operation under way; otherwise it is the real context's error.
func (c *deadlineCtx) Err() error {
	if !c.armed.Load() && !c.stopped.Load() && c.parent.Err() == nil && time.Now().Before(c.deadline) {
		return nil
	}
	return c.arm().Err()
}

// Value arms the context and asks the real one.
func (c *deadlineCtx) Value(key any) any { return c.arm().Value(key) }
