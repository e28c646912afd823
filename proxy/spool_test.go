package proxy

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func testBuffers(t *testing.T, memory, disk, maxFile int64) (*bodyBuffers, string) {
	dir := t.TempDir()
	return newBodyBuffers(BufferOptions{MemoryBytes: memory, DiskBytes: disk, MaxFileBytes: maxFile, TempDir: dir}), dir
}

// readAll reads every try's view of the body: each try must get all of it.
func readAll(t *testing.T, rb *replayBody) []byte {
	t.Helper()
	body, get, _ := rb.attempt(nil)
	first, err := io.ReadAll(body)
	require.NoError(t, err)
	if get != nil {
		again, err := get()
		require.NoError(t, err)
		second, err := io.ReadAll(again)
		require.NoError(t, err)
		require.Equal(t, first, second, "a replay sends the same bytes")
	}
	var viaWriteTo bytes.Buffer // how the transport sends it: io.Copy uses WriteTo
	body, _, _ = rb.attempt(nil)
	_, err = io.Copy(&viaWriteTo, body)
	require.NoError(t, err)
	require.Equal(t, first, viaWriteTo.Bytes())
	return first
}

func TestSpoolInMemory(t *testing.T) {
	b, dir := testBuffers(t, 1<<20, 1<<20, 1<<20)
	want := randomBytes(t, 200<<10)
	// One byte per read: memory is reserved chunk by chunk as bytes
	// arrive, never up front from the Content-Length.
	src := iotest.OneByteReader(bytes.NewReader(want))
	rb, err := b.read(src, int64(len(want)), 1<<20)
	require.NoError(t, err)
	require.True(t, rb.buffered())
	assert.Equal(t, "memory", rb.mode())
	assert.Equal(t, want, readAll(t, rb))
	used := b.stats().MemoryBytes
	assert.GreaterOrEqual(t, used, int64(len(want)))
	assert.LessOrEqual(t, used, 2*int64(len(want))+minChunk, "chunks grow with what arrived")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
	rb.spool.release()
	rb.spool.release() // idempotent
	assert.Equal(t, BufferStats{}, b.stats())
}

// TestSpoolReservesAsBytesArrive pins issue 10's "memory pinned by idle
// uploads": a body that announces 1 MiB and sends 3 KiB reserved 1 MiB at
// once (bytes.Buffer.Grow), so idle connections pinned memory they were
// never sent.
func TestSpoolReservesAsBytesArrive(t *testing.T) {
	b, _ := testBuffers(t, 64<<20, 0, 0)
	s := b.newSpool(1<<20, 1<<20)
	stall := errors.New("the client stops sending")
	_, _, err := s.fill(io.MultiReader(bytes.NewReader(randomBytes(t, 3<<10)), iotest.ErrReader(stall)))
	require.ErrorIs(t, err, stall)
	assert.LessOrEqual(t, b.stats().MemoryBytes, int64(minChunk), "3 KiB arrived: one first chunk reserved")
	s.release()
	assert.Zero(t, b.stats().MemoryBytes)
}

func TestSpoolSpillsToUnlinkedFile(t *testing.T) {
	for name, tc := range map[string]struct{ memory, perRequest int64 }{
		"the process budget is used up": {16 << 10, 1 << 20},
		"the request's memory is used":  {1 << 20, 16 << 10},
		"no memory at all":              {-1, 1 << 20},
	} {
		t.Run(name, func(t *testing.T) {
			b, dir := testBuffers(t, tc.memory, 1<<20, 1<<20)
			want := randomBytes(t, 300<<10)
			rb, err := b.read(bytes.NewReader(want), -1, tc.perRequest)
			require.NoError(t, err)
			require.True(t, rb.buffered(), "a spilled body is replayable")
			assert.Equal(t, "file", rb.mode())
			st := b.stats()
			assert.Equal(t, int64(1), st.Files)
			assert.LessOrEqual(t, st.MemoryBytes, int64(16<<10))
			assert.Positive(t, st.DiskBytes)
			assert.Equal(t, int64(len(want)), rb.spool.size)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			assert.Empty(t, entries, "the temporary file is unlinked as soon as it is created")
			assert.Equal(t, want, readAll(t, rb))
			rb.spool.release()
			assert.Equal(t, BufferStats{}, b.stats())
		})
	}
}

func TestSpoolStreamsPastItsLimits(t *testing.T) {
	b, _ := testBuffers(t, 1<<20, 1<<20, 64<<10)
	want := randomBytes(t, 200<<10)
	rb, err := b.read(bytes.NewReader(want), int64(len(want)), 16<<10)
	require.NoError(t, err)
	assert.False(t, rb.buffered())
	assert.Equal(t, "stream", rb.mode())
	assert.Equal(t, int64(16<<10+64<<10), b.stats().MemoryBytes+b.stats().DiskBytes, "held: the request's memory and file")
	body, get, n := rb.attempt(&http.Request{ContentLength: int64(len(want))})
	assert.Nil(t, get, "a streamed body cannot be replayed")
	assert.Equal(t, int64(len(want)), n)
	got, err := io.ReadAll(body)
	require.NoError(t, err)
	assert.Equal(t, want, got, "the buffered part, then the rest")
	assert.False(t, rb.replayable())
	rb.spool.release()
	assert.Equal(t, BufferStats{}, b.stats())

	t.Run("a body of exactly the limits is buffered whole", func(t *testing.T) {
		exact := randomBytes(t, 16<<10+64<<10)
		rb, err := b.read(iotest.OneByteReader(bytes.NewReader(exact)), -1, 16<<10)
		require.NoError(t, err)
		assert.True(t, rb.buffered())
		assert.Equal(t, exact, readAll(t, rb))
		rb.spool.release()
	})
}

func TestSpoolBudgetsUsedUp(t *testing.T) {
	b, _ := testBuffers(t, 16<<10, 32<<10, 1<<20)
	first, err := b.read(bytes.NewReader(randomBytes(t, 48<<10)), -1, 1<<20)
	require.NoError(t, err, "16 KiB in memory, 32 KiB on disk")
	_, err = b.read(bytes.NewReader(randomBytes(t, 1)), 1, 1<<20)
	require.ErrorIs(t, err, errBufferFull, "both budgets are used up")
	assert.Equal(t, int64(16<<10), b.stats().MemoryBytes, "the refused body holds nothing")
	first.spool.release()
	second, err := b.read(bytes.NewReader(randomBytes(t, 1)), 1, 1<<20)
	require.NoError(t, err, "released budgets are used again")
	second.spool.release()
	assert.Equal(t, BufferStats{}, b.stats())

	t.Run("no temporary files", func(t *testing.T) {
		b, _ := testBuffers(t, 8<<10, -1, 0)
		first, err := b.read(bytes.NewReader(randomBytes(t, 8<<10)), -1, 1<<20)
		require.NoError(t, err)
		_, err = b.read(bytes.NewReader(randomBytes(t, 100)), 100, 1<<20)
		require.ErrorIs(t, err, errBufferFull)
		first.spool.release()
	})
}

func TestSpoolConcurrentBudget(t *testing.T) {
	b, _ := testBuffers(t, 256<<10, 256<<10, 1<<20)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 20 {
				want := randomBytes(t, 40<<10)
				rb, err := b.read(iotest.HalfReader(bytes.NewReader(want)), -1, 16<<10)
				if err == nil {
					body, _, _ := rb.attempt(nil)
					got, _ := io.ReadAll(body)
					assert.Equal(t, want, got)
				} else {
					assert.ErrorIs(t, err, errBufferFull)
				}
				assert.LessOrEqual(t, b.memory.used.Load(), int64(256<<10))
				assert.LessOrEqual(t, b.disk.used.Load(), int64(256<<10))
				rb.spool.release()
			}
		})
	}
	wg.Wait()
	assert.Equal(t, BufferStats{}, b.stats(), "every path gives back what it took")
}

func TestUploadDeadline(t *testing.T) {
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	g := &uploadGuard{idle: 30 * time.Second, rate: 1000, grace: 10 * time.Second, start: start}
	for _, tc := range []struct {
		name   string
		now    time.Duration // since start
		n      int64
		want   time.Duration // deadline, since start
		byRate bool
	}{
		{"first byte: the grace", 0, 0, 10 * time.Second, true},
		{"1000 bytes buy a second", time.Second, 1000, 11 * time.Second, true},
		{"500 bytes buy half of one", time.Second, 500, 10500 * time.Millisecond, true},
		{"fast enough: the idle timeout binds", 5 * time.Second, 1 << 20, 35 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dl, byRate := g.deadline(start.Add(tc.now), tc.n)
			assert.Equal(t, start.Add(tc.want), dl)
			assert.Equal(t, tc.byRate, byRate)
		})
	}
	idleOnly := &uploadGuard{idle: time.Second, start: start}
	dl, byRate := idleOnly.deadline(start.Add(time.Minute), 0)
	assert.Equal(t, start.Add(time.Minute+time.Second), dl)
	assert.False(t, byRate)
}
