package app

import (
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/proxy"
)

// levelFilter drops events below a level that SIGHUP can change while
// loggers copied into every component keep working: the loggers
// themselves log at every level, the filter decides.
type levelFilter struct {
	w   io.Writer
	min atomic.Int32
}

func (f *levelFilter) Write(p []byte) (int, error) { return f.w.Write(p) }

// WriteLevel implements zerolog.LevelWriter.
func (f *levelFilter) WriteLevel(l zerolog.Level, p []byte) (int, error) {
	if l < zerolog.Level(f.min.Load()) {
		return len(p), nil
	}
	return f.w.Write(p)
}

func (f *levelFilter) set(level config.LogLevel) error {
	lvl, err := zerolog.ParseLevel(string(level))
	if err != nil {
		return fmt.Errorf("log.level: %w", err)
	}
	f.min.Store(int32(lvl))
	return nil
}

// newLogger builds the program's logger: JSON lines by default, or
// human-readable console output (coloured on a terminal only), behind a
// level filter reload can move.
func newLogger(c config.LogConfig, out io.Writer) (zerolog.Logger, *levelFilter, error) {
	if c.Format == config.LogConsole {
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: time.RFC3339, NoColor: !isTerminal(out)}
	}
	f := &levelFilter{w: out}
	if err := f.set(c.Level); err != nil {
		return zerolog.Logger{}, nil, err
	}
	return zerolog.New(f).Level(zerolog.DebugLevel).With().Timestamp().Logger(), f, nil
}

// accessLog is the proxy's access log: log.access's format, its combined
// lines going to AccessOut, or to the log's writer when that is unset.
func (m *Main) accessLog() proxy.AccessLog {
	out := m.AccessOut
	if out == nil {
		out = m.out
	}
	return proxy.AccessLog{Format: m.cfg.Log.Access, Out: out}
}

// isTerminal reports whether w is a terminal (a character device), where
// colours help; a file, a pipe or journald gets none.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
