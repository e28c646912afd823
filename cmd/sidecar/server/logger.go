package server

import (
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

// newLogger builds the program's logger: JSON lines by default, or
// human-readable console output.
func newLogger(c config.LogConfig, out io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(string(c.Level))
	if err != nil {
		return zerolog.Logger{}, fmt.Errorf("log.level: %w", err)
	}
	if c.Format == config.LogConsole {
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: time.RFC3339}
	}
	return zerolog.New(out).Level(lvl).With().Timestamp().Logger(), nil
}
