package clocktest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClock(t *testing.T) {
	t.Run("StartsAtRealNowInMilliseconds", func(t *testing.T) {
		before := time.Now().Truncate(time.Millisecond)
		c := New()
		after := time.Now()
		now := c.Now()
		assert.False(t, now.Before(before))
		assert.False(t, now.After(after))
		assert.Equal(t, now, now.Truncate(time.Millisecond))
		assert.Equal(t, now, c.Now(), "the clock does not move by itself")
	})

	t.Run("ZeroValueStartsAtFirstUse", func(t *testing.T) {
		var c Clock
		before := time.Now().Truncate(time.Millisecond)
		now := c.Now()
		assert.False(t, now.Before(before))
		assert.Equal(t, now, now.Truncate(time.Millisecond))
	})

	t.Run("Advance", func(t *testing.T) {
		tests := []struct {
			name string
			d    time.Duration
			want time.Duration
		}{
			{"Zero", 0, 0},
			{"WholeMilliseconds", 1500 * time.Millisecond, 1500 * time.Millisecond},
			{"RoundsUp", time.Millisecond + time.Nanosecond, 2 * time.Millisecond},
			{"Hours", 36 * time.Hour, 36 * time.Hour},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c := New()
				start := c.Now()
				c.Advance(tt.d)
				assert.Equal(t, tt.want, c.Now().Sub(start))
			})
		}
	})

	t.Run("NeverGoesBack", func(t *testing.T) {
		c := New()
		require.Panics(t, func() { c.Advance(-time.Millisecond) })
	})

	t.Run("ConcurrentUse", func(t *testing.T) {
		c := New()
		start := c.Now()
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				for range 100 {
					c.Advance(time.Millisecond)
					_ = c.Now()
				}
			})
		}
		wg.Wait()
		assert.Equal(t, time.Second, c.Now().Sub(start))
	})
}
