package applog

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// waitBound is how long a test waits for what must happen within
// FlushDelay, on a busy machine.
const waitBound = 10 * time.Second

// writes records each Write call separately.
type writes struct {
	mu    sync.Mutex
	calls []string
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.calls = append(w.calls, string(p))
	return len(p), nil
}

func (w *writes) all() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.calls...)
}

func (w *writes) text() string { return strings.Join(w.all(), "") }

func TestBufferBatchesWholeLines(t *testing.T) {
	t.Run("a batch waits for Flush, in order", func(t *testing.T) {
		var out writes
		b := NewBuffer(&out)
		b.delay = time.Hour // only Flush writes
		defer b.Close()
		for i := range 3 {
			_, err := fmt.Fprintf(b, "line %d\n", i)
			require.NoError(t, err)
		}
		require.NoError(t, b.Flush())
		assert.Equal(t, []string{"line 0\nline 1\nline 2\n"}, out.all(), "one write to the output")
	})
	t.Run("FlushBytes writes at once, lines whole", func(t *testing.T) {
		var out writes
		b := NewBuffer(&out)
		defer b.Close()
		line := strings.Repeat("x", 999) + "\n"
		for range 2 * FlushBytes / len(line) {
			_, _ = b.Write([]byte(line))
		}
		written := 0
		for _, c := range out.all() {
			written += len(c)
			assert.Zero(t, len(c)%len(line), "no line is split between writes")
		}
		assert.GreaterOrEqual(t, written, FlushBytes, "full batches went out without Flush (or waiting for the timer)")
	})
	t.Run("FlushDelay writes a lone line", func(t *testing.T) {
		var out writes
		b := NewBuffer(&out)
		defer b.Close()
		_, _ = b.Write([]byte("alone\n"))
		require.Eventually(t, func() bool { return out.text() == "alone\n" }, waitBound, time.Millisecond)
		_, _ = b.Write([]byte("again\n")) // the timer is armed anew
		require.Eventually(t, func() bool { return out.text() == "alone\nagain\n" }, waitBound, time.Millisecond)
	})
	t.Run("Close flushes, then lines go straight through", func(t *testing.T) {
		var out writes
		b := NewBuffer(&out)
		_, _ = b.Write([]byte("before\n"))
		require.NoError(t, b.Close())
		assert.Equal(t, []string{"before\n"}, out.all())
		_, _ = b.Write([]byte("after\n"))
		assert.Equal(t, []string{"before\n", "after\n"}, out.all())
		assert.NoError(t, b.Close(), "a second Close does nothing")
	})
	t.Run("concurrent writers", func(t *testing.T) {
		var out writes
		b := NewBuffer(&out)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 2000 {
					_, _ = fmt.Fprintf(b, "g%d %04d %s\n", g, i, strings.Repeat("y", 40))
				}
			}()
		}
		wg.Wait()
		require.NoError(t, b.Close())
		lines := strings.Split(strings.TrimSuffix(out.text(), "\n"), "\n")
		assert.Len(t, lines, 8*2000)
		last := map[string]string{}
		for _, l := range lines {
			f := strings.Fields(l)
			require.Len(t, f, 3, "a whole line: %q", l)
			assert.Less(t, last[f[0]], f[1], "each writer's lines stay in order")
			last[f[0]] = f[1]
		}
		for _, c := range out.all() {
			assert.True(t, strings.HasSuffix(c, "\n"), "every write to the output ends a line")
		}
	})
}

func TestBufferWriteErrorReported(t *testing.T) {
	b := NewBuffer(failing{})
	_, err := b.Write([]byte("lost\n"))
	require.NoError(t, err, "a line is only copied")
	assert.ErrorIs(t, b.Flush(), os.ErrClosed)
	assert.ErrorIs(t, b.Close(), os.ErrClosed)
}

type failing struct{}

func (failing) Write([]byte) (int, error) { return 0, os.ErrClosed }

// TestFilterOnAFile: the program's logger on a file batches its lines, a
// warning flushes at once with what came before, and Close flushes the
// rest.
func TestFilterOnAFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	file, err := os.Create(path)
	require.NoError(t, err)
	defer file.Close()
	log, f := New(file, Options{Level: zerolog.InfoLevel})
	f.buf.delay = time.Hour // only a warning, FlushBytes or Close write
	read := func() string {
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		return string(b)
	}

	log.Info().Msg("one")
	assert.Empty(t, read(), "info waits in the buffer")
	log.Warn().Msg("two")
	got := read()
	assert.Equal(t, 1, strings.Count(got, `"message":"one"`), got)
	assert.Equal(t, 1, strings.Count(got, `"message":"two"`), got)
	assert.Less(t, strings.Index(got, "one"), strings.Index(got, "two"), "in order")

	log.Info().Msg("three")
	_, _ = f.Out().Write([]byte("127.0.0.1 - - combined line\n")) // the access log shares it
	require.NoError(t, f.Close())
	got = read()
	assert.Contains(t, got, `"message":"three"`)
	assert.True(t, strings.HasSuffix(got, "combined line\n"), got)

	log.Info().Msg("four")
	assert.Contains(t, read(), `"message":"four"`, "after Close lines are written at once")
}

// TestLevelCheckedBeforeBuild: an event below the level is never built
// (zerolog hands out a disabled event), in every copy of the logger, and
// the check follows SetLevel.
func TestLevelCheckedBeforeBuild(t *testing.T) {
	var out bytes.Buffer
	log, f := New(&out, Options{Level: zerolog.WarnLevel})
	child := log.With().Str("log", "access").Logger()
	assert.False(t, child.Info().Enabled(), "info below warn: no event is built")
	assert.False(t, child.WithLevel(zerolog.InfoLevel).Enabled())
	assert.True(t, child.Warn().Enabled())
	f.SetLevel(zerolog.InfoLevel)
	assert.True(t, child.Info().Enabled())

	allocs := testing.AllocsPerRun(100, func() {
		f.SetLevel(zerolog.ErrorLevel)
		child.Info().Str("path", "/x").Int("status", 200).Msg("request")
	})
	assert.Zero(t, allocs)
	assert.NotContains(t, out.String(), "request")
}
