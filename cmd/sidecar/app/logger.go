package app

import (
	"fmt"
	"io"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/applog"
	"github.com/sidecarproxy/sidecar/internal/logbridge"
	"github.com/sidecarproxy/sidecar/proxy"
)

// libLogs takes over the loggers of the whole process (go-redis's and the
// log package's; see logbridge.Router), the one global state Sidecar
// cannot avoid: the first Main that runs installs it, and each Main
// attaches its logger while it runs. A process runs one Main, outside the
// tests, so its library lines land in its one log.
var libLogs = logbridge.NewRouter()

// newLogger builds the program's logger for log.level and log.format
// (applog.New), behind a level filter reload can move.
func newLogger(c config.LogConfig, out io.Writer) (zerolog.Logger, *applog.Filter, error) {
	lvl, err := logLevel(c.Level)
	if err != nil {
		return zerolog.Logger{}, nil, err
	}
	log, f := applog.New(out, applog.Options{Level: lvl, Console: c.Format == config.LogConsole})
	return log, f, nil
}

// logLevel parses log.level.
func logLevel(l config.LogLevel) (zerolog.Level, error) {
	lvl, err := zerolog.ParseLevel(string(l))
	if err != nil {
		return 0, fmt.Errorf("log.level: %w", err)
	}
	return lvl, nil
}

// accessLog is the proxy's access log: log.access's format, its combined
// lines going to AccessOut (batched when a file: applog.Buffered), or to
// the log's writer when that is unset.
func (m *Main) accessLog() proxy.AccessLog {
	out := m.out
	if m.AccessOut != nil {
		var closeOut func() error
		out, closeOut = applog.Buffered(m.AccessOut)
		m.onClose(closeOut)
	}
	return proxy.AccessLog{Format: m.cfg.Log.Access, Out: out}
}
