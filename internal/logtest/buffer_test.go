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

func TestJSONLines(t *testing.T) {
	e := JSONLines(t, `{"a":1}`+"\n"+`{"b":"x"}`+"\n")
	assert.Equal(t, []map[string]any{{"a": float64(1)}, {"b": "x"}}, e)
	assert.Empty(t, JSONLines(t, ""))

	var r recorder
	JSONLines(&r, "{\"a\":1}\nredis: 2026/11/29 pool.go:770: failed\n")
	assert.Contains(t, r.msg, "1 lines are not JSON objects:\nredis: 2026/11/29 pool.go:770: failed")
}

// recorder is a testing.TB whose Fatalf only records.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.msg = fmt.Sprintf(format, args...) }
