package logbridge

import (
	"github.com/rs/zerolog"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Leveler reports the minimum level a log writes now (applog.Filter is
// one): NewZap's logger asks it for every entry, so that a level moved at
// run time applies to zap's entries too.
type Leveler interface {
	Level() zerolog.Level
}

// NewZap returns a *zap.Logger (what certmagic logs to) that writes each
// entry to log as one event, at the levels level lets through (nil: every
// level). Fields keep their names; zap's logger name, if any, becomes
// "logger". Entries below the level are not even encoded.
func NewZap(log zerolog.Logger, level Leveler) *zap.Logger {
	return zap.New(&zerologCore{log: log, level: level})
}

// zerologCore is a zapcore.Core writing each entry as one zerolog event.
type zerologCore struct {
	log    zerolog.Logger
	level  Leveler         // nil: every level
	fields []zapcore.Field // from With
}

var _ zapcore.Core = (*zerologCore)(nil)

// Enabled reports whether the level lets entries of l through.
func (c *zerologCore) Enabled(l zapcore.Level) bool {
	return c.level == nil || zerologLevel(l) >= c.level.Level()
}

// With returns a core that adds fields to every entry.
func (c *zerologCore) With(fields []zapcore.Field) zapcore.Core {
	return &zerologCore{log: c.log, level: c.level, fields: append(c.fields[:len(c.fields):len(c.fields)], fields...)}
}

// Check adds c to ce when the entry's level is enabled.
func (c *zerologCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

// Write logs e with the core's fields and fields.
func (c *zerologCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range c.fields {
		f.AddTo(enc)
	}
	for _, f := range fields {
		f.AddTo(enc)
	}
	ev := c.log.WithLevel(zerologLevel(e.Level))
	if e.LoggerName != "" {
		ev = ev.Str("logger", e.LoggerName)
	}
	ev.Fields(enc.Fields).Msg(e.Message)
	return nil
}

// Sync does nothing: zerolog writes each event at once.
func (c *zerologCore) Sync() error { return nil }

// zerologLevel maps a zap level; zap's panic and fatal levels (certmagic
// uses neither) log as errors, zap itself then panics or exits.
func zerologLevel(l zapcore.Level) zerolog.Level {
	switch {
	case l <= zapcore.DebugLevel:
		return zerolog.DebugLevel
	case l == zapcore.InfoLevel:
		return zerolog.InfoLevel
	case l == zapcore.WarnLevel:
		return zerolog.WarnLevel
	}
	return zerolog.ErrorLevel
}
