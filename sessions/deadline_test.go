package sessions

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type deadlineKey struct{}

// TestDeadlineCtxLikeWithTimeout: the store context behaves as
// context.WithTimeout's, and makes a timer only when a store waits on it.
func TestDeadlineCtxLikeWithTimeout(t *testing.T) {
	const wait = 10 * time.Second // generous bound for what must happen at once
	parent := context.WithValue(context.Background(), deadlineKey{}, "v")

	t.Run("err and deadline cost no timer", func(t *testing.T) {
		c := newDeadlineCtx(parent, time.Hour)
		defer c.stop()
		require.NoError(t, c.Err())
		d, ok := c.Deadline()
		assert.True(t, ok)
		assert.WithinDuration(t, time.Now().Add(time.Hour), d, time.Minute)
		assert.False(t, c.armed.Load(), "nothing waited: no real context")
	})
	t.Run("the earlier deadline wins", func(t *testing.T) {
		short, cancel := context.WithTimeout(parent, time.Minute)
		defer cancel()
		c := newDeadlineCtx(short, time.Hour)
		defer c.stop()
		want, _ := short.Deadline()
		got, _ := c.Deadline()
		assert.Equal(t, want, got)
	})
	t.Run("done closes at the deadline", func(t *testing.T) {
		c := newDeadlineCtx(parent, 20*time.Millisecond)
		defer c.stop()
		select {
		case <-c.Done():
		case <-time.After(wait):
			t.Fatal("Done did not close at the deadline")
		}
		assert.ErrorIs(t, c.Err(), context.DeadlineExceeded)
	})
	t.Run("err sees a passed deadline without done", func(t *testing.T) {
		c := newDeadlineCtx(parent, time.Nanosecond)
		defer c.stop()
		require.Eventually(t, func() bool { return errors.Is(c.Err(), context.DeadlineExceeded) }, wait, time.Millisecond)
		select {
		case <-c.Done(): // Err and Done agree
		default:
			t.Fatal("Err reported the deadline, Done is open")
		}
	})
	t.Run("a canceled parent ends it", func(t *testing.T) {
		p, cancel := context.WithCancel(parent)
		c := newDeadlineCtx(p, time.Hour)
		defer c.stop()
		cancel()
		assert.ErrorIs(t, c.Err(), context.Canceled)
		<-c.Done()

		p2, cancel2 := context.WithCancel(parent)
		c2 := newDeadlineCtx(p2, time.Hour)
		defer c2.stop()
		done := c2.Done() // armed first, then canceled
		cancel2()
		select {
		case <-done:
		case <-time.After(wait):
			t.Fatal("the parent's cancel did not reach Done")
		}
	})
	t.Run("stop cancels, armed or not", func(t *testing.T) {
		c := newDeadlineCtx(parent, time.Hour)
		c.stop()
		assert.ErrorIs(t, c.Err(), context.Canceled)
		<-c.Done()

		c2 := newDeadlineCtx(parent, time.Hour)
		done := c2.Done()
		c2.stop()
		<-done
		assert.ErrorIs(t, c2.Err(), context.Canceled)
	})
	t.Run("values and derived contexts", func(t *testing.T) {
		p, cancel := context.WithCancelCause(parent)
		c := newDeadlineCtx(p, time.Hour)
		defer c.stop()
		assert.Equal(t, "v", c.Value(deadlineKey{}))
		child, stopChild := context.WithCancel(c)
		defer stopChild()
		cause := errors.New("client gone")
		cancel(cause)
		<-child.Done()
		assert.Equal(t, cause, context.Cause(c))
		assert.Equal(t, cause, context.Cause(child))
	})
	t.Run("stop racing a waiter", func(t *testing.T) {
		for range 100 {
			c := newDeadlineCtx(parent, time.Hour)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-c.Done()
			}()
			c.stop()
			wg.Wait() // Done closes whichever of the two came first
		}
	})
}
