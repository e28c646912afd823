// Package applog builds Sidecar's own logger: JSON lines, or
// human-readable console lines (coloured on a terminal only), behind a
// [Filter] whose minimum level can move while the program runs (log.level
// on SIGHUP). The logger is copied into every component; the one Filter
// under all the copies decides what is written, and decides it before an
// event is built (it is the logger's zerolog.Sampler), so a line below the
// level costs nothing. Written to a file (standard error, a pipe, a
// terminal), lines are batched by a [Buffer].
//
// It knows no configuration: cmd/sidecar/app parses log.level and
// log.format into [Options].
package applog

import (
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Options configure New. The zero value writes JSON lines at every level
// (zerolog.DebugLevel, the zero zerolog.Level).
type Options struct {
	// Level is the minimum level written; Filter.SetLevel moves it later.
	Level zerolog.Level
	// Console writes zerolog's console format for people instead of JSON,
	// with colours only when the output is a terminal (a character
	// device): a file, a pipe or journald gets none.
	Console bool
}

// New returns the program's logger, writing to out with a timestamp on
// every line, and the Filter under it. When out is a file, lines go
// through a Buffer (see Filter.Out), which Filter.Close flushes; any
// other writer (a test's buffer) gets each line as it is logged.
func New(out io.Writer, o Options) (zerolog.Logger, *Filter) {
	f := &Filter{out: out}
	if file, ok := out.(*os.File); ok {
		f.buf = NewBuffer(file)
		f.out = f.buf
	}
	f.w = f.out
	if o.Console {
		f.w = zerolog.ConsoleWriter{Out: f.out, TimeFormat: time.RFC3339, NoColor: !isTerminal(out)}
	}
	f.SetLevel(o.Level)
	return zerolog.New(f).Level(zerolog.TraceLevel).Sample(f).With().Timestamp().Logger(), f
}

// Filter drops events below a level that can change at any time, from
// any goroutine. It is the logger's zerolog.Sampler, so an event below
// the level is never built; as its zerolog.LevelWriter it checks again
// (an event built before the level moved, or with zerolog's sampling
// disabled) and flushes the Buffer after each warning or error.
type Filter struct {
	w   io.Writer // out, or a ConsoleWriter over it
	out io.Writer // what New was given, or buf over it
	buf *Buffer   // nil when out is not a file
	min atomic.Int32
}

var (
	_ zerolog.LevelWriter = (*Filter)(nil)
	_ zerolog.Sampler     = (*Filter)(nil)
)

// Sample reports whether an event at l is written: l is at least the
// filter's level.
func (f *Filter) Sample(l zerolog.Level) bool { return l >= f.Level() }

// Write writes p, an event without a level.
func (f *Filter) Write(p []byte) (int, error) { return f.w.Write(p) }

// WriteLevel writes p unless l is below the filter's level; a warning or
// worse is flushed at once, with every line before it.
func (f *Filter) WriteLevel(l zerolog.Level, p []byte) (int, error) {
	if l < f.Level() {
		return len(p), nil
	}
	n, err := f.w.Write(p)
	if l >= zerolog.WarnLevel && f.buf != nil {
		if ferr := f.buf.Flush(); err == nil {
			err = ferr
		}
	}
	return n, err
}

// Out is the writer under the logger, for other lines that should share
// it (the combined access log): New's out, through the Buffer when there
// is one.
func (f *Filter) Out() io.Writer { return f.out }

// Close flushes the Buffer, if any, and makes later lines go straight to
// the output. The program calls it last when it shuts down.
func (f *Filter) Close() error {
	if f.buf == nil {
		return nil
	}
	return f.buf.Close()
}

// Level is the minimum level written.
func (f *Filter) Level() zerolog.Level { return zerolog.Level(f.min.Load()) }

// SetLevel moves the minimum level; the next event sees it.
func (f *Filter) SetLevel(l zerolog.Level) { f.min.Store(int32(l)) }

// isTerminal reports whether w is a terminal (a character device), where
// colours help.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
