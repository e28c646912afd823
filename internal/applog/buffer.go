package applog

import (
	"io"
	"os"
	"sync"
	"time"
)

// How a Buffer batches.
const (
	// FlushDelay is the longest a line waits in a Buffer: the batch it
	// starts is written at most this long after it.
	FlushDelay = 100 * time.Millisecond
	// FlushBytes is the size at which a Buffer writes its batch at once.
	FlushBytes = 32 << 10
)

// Buffer batches the lines written to it into fewer, larger writes to
// its output: a batch is written once it holds FlushBytes, FlushDelay after
// its first line, on Flush and on Close. Each Write is kept whole, and a
// zerolog event (or a combined access-log line) is one Write, so a line is
// never split between two writes to the output. Batches are written in
// order, by one goroutine at a time, outside the lock that writers take:
// a line costs its writer a copy, not a system call.
//
// What waits in a Buffer is lost if the process dies without closing it:
// at most FlushDelay's worth of lines (New's Filter flushes warnings and
// errors at once). After Close every Write goes straight to the output.
// A Buffer is safe for concurrent use.
type Buffer struct {
	out   io.Writer
	delay time.Duration // FlushDelay; tests lengthen it
	timer *time.Timer   // flushes a batch delay after its first line

	wmu sync.Mutex // held while a batch is written: batches go out in order

	mu     sync.Mutex // guards what follows
	buf    []byte     // the batch being gathered
	spare  []byte     // the last batch written, for reuse
	armed  bool       // timer runs for buf
	closed bool
	err    error // the first failed write to out, for Flush and Close
}

// NewBuffer returns a Buffer writing to out.
func NewBuffer(out io.Writer) *Buffer {
	b := &Buffer{out: out, delay: FlushDelay}
	b.timer = time.AfterFunc(FlushDelay, func() { _ = b.Flush() })
	b.timer.Stop()
	return b
}

// Buffered returns out through a Buffer when out is a file (standard
// output or error, a pipe, a terminal), with the Buffer's Close; any
// other writer is returned as it is, with a Close that does nothing.
func Buffered(out io.Writer) (io.Writer, func() error) {
	if f, ok := out.(*os.File); ok {
		b := NewBuffer(f)
		return b, b.Close
	}
	return out, func() error { return nil }
}

// Write adds p to the batch; it writes the batch when that reaches
// FlushBytes. It reports no error: a failed write of a batch is reported
// by the next Flush or Close.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.wmu.Lock()
		defer b.wmu.Unlock()
		return b.out.Write(p)
	}
	b.buf = append(b.buf, p...)
	full := len(b.buf) >= FlushBytes
	if !full && !b.armed {
		b.armed = true
		b.timer.Reset(b.delay)
	}
	b.mu.Unlock()
	if full {
		_ = b.Flush()
	}
	return len(p), nil
}

// Flush writes what waits, and returns the first error any write of a
// batch met.
func (b *Buffer) Flush() error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	return b.writeBatch(false)
}

// Close writes what waits and makes every later Write go straight to the
// output, after it. It returns Flush's error; later calls return nil.
func (b *Buffer) Close() error {
	b.wmu.Lock()
	defer b.wmu.Unlock()
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return nil
	}
	b.timer.Stop()
	return b.writeBatch(true)
}

// writeBatch writes the batch gathered so far (closing the Buffer first
// when close is set); b.wmu is held.
func (b *Buffer) writeBatch(close bool) error {
	b.mu.Lock()
	batch := b.buf
	b.buf, b.spare, b.armed = b.spare[:0], nil, false
	b.closed = b.closed || close
	b.mu.Unlock()

	var err error
	if len(batch) > 0 {
		_, err = b.out.Write(batch)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if cap(batch) <= 4*FlushBytes { // a batch a huge line grew is let go
		b.spare = batch[:0]
	}
	if b.err == nil {
		b.err = err
	}
	return b.err
}
