package logtest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestBufferConcurrentWrites(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				_, _ = fmt.Fprintf(&b, "line %d\n", i)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 1000, b.Count("line "))
	assert.Equal(t, 100, b.Count("line 7\n"))
}
