// Package applog builds Sidecar's own logger: JSON lines, or
// human-readable console lines (coloured on a terminal only), behind a
// [Filter] whose minimum level can move while the program runs (log.level
// on SIGHUP). The logger itself logs at every level and is copied into
// every component; the one Filter under all the copies decides what is
// written.
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
// every line, and the Filter under it.
func New(out io.Writer, o Options) (zerolog.Logger, *Filter) {
	if o.Console {
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: time.RFC3339, NoColor: !isTerminal(out)}
	}
	f := &Filter{w: out}
	f.SetLevel(o.Level)
	return zerolog.New(f).Level(zerolog.DebugLevel).With().Timestamp().Logger(), f
}

// Filter is a zerolog.LevelWriter that drops events below a level that
// can change at any time, from any goroutine.
type Filter struct {
	w   io.Writer
	min atomic.Int32
}

var _ zerolog.LevelWriter = (*Filter)(nil)

// Write writes p, an event without a level.
func (f *Filter) Write(p []byte) (int, error) { return f.w.Write(p) }

// WriteLevel writes p unless l is below the filter's level.
func (f *Filter) WriteLevel(l zerolog.Level, p []byte) (int, error) {
	if l < f.Level() {
		return len(p), nil
	}
	return f.w.Write(p)
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
