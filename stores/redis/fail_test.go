package redisstore

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// passedDeadline is a context whose deadline has passed but whose own
// timer has not marked it done yet: what a request sees when the socket's
// deadline, set from the context's, fires first.
type passedDeadline struct{ context.Context }

func (passedDeadline) Deadline() (time.Time, bool) { return time.Now().Add(-time.Millisecond), true }
func (passedDeadline) Err() error                  { return nil }

// TestFailMarksAPassedDeadline pins the flake where, under load, Redis's
// "i/o timeout" arrived before ctx.Err() was set, and the store's error
// did not match context.DeadlineExceeded as documented.
func TestFailMarksAPassedDeadline(t *testing.T) {
	ioTimeout := errors.New("read tcp: i/o timeout")
	err := fail(passedDeadline{context.Background()}, "loading session", ioTimeout)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorIs(t, err, ioTimeout)

	err = fail(context.Background(), "loading session", ioTimeout)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "no deadline, no DeadlineExceeded")
}
