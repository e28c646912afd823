package app

import (
	"context"
	"fmt"
	"log"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/internal/ratelog"
)

// Some libraries log through a logger of the whole process rather than
// one Sidecar can pass in:
//   - go-redis, through redis.SetLogger, which every client of the
//     process shares: during an outage it complains once per failed dial
//     ("connection pool: failed to dial after 5 attempts"), plain text on
//     standard error by default;
//   - the standard library's log package, which certmagic writes a few
//     lines to (its challenge servers' errors, a stale OCSP staple it
//     could not delete, recovered panics of its workers), as would any
//     http.Server without an ErrorLog (Sidecar's all have one).
//
// Setting those is global state that cannot be avoided. libLogs sets them
// once per process, when the first Main runs, to forwarders writing to
// the logger of the most recently started Main that is still running, or
// when none runs, to the last one that did: several Mains in one test
// process each keep a working target, and nothing is written before a
// Main runs or as plain text. A process runs one Main, outside the tests,
// so its library lines land in its one log, tagged "log":"redis" or
// "log":"stdlog".
//
// go-redis lines are rate-limited per message format, because a Redis
// outage makes one per request (the access log already has one per
// request): the first redisLogBurst of each redisLogWindow are logged,
// then one summary line with the count of the rest, at the window's end
// or when the last Main stops, whichever is first.
var libLogs = newLibraryLogs(true)

// The rate limit of go-redis lines, per message format.
const (
	redisLogBurst  = 5
	redisLogWindow = time.Minute
	// maxRedisFormats bounds the limiters kept: go-redis has a few hundred
	// call sites; past this many formats, the rest share one limiter.
	maxRedisFormats = 64
)

// libraryLogs routes the process-wide library loggers to a Main's logger.
type libraryLogs struct {
	process bool // the process's: attach installs the forwarders (once)
	install sync.Once
	target  atomic.Pointer[zerolog.Logger]

	mu       sync.Mutex
	attached []*zerolog.Logger           // the running Mains' loggers, in start order
	limits   map[string]*ratelog.Limiter // go-redis formats; "" is the shared one
}

// newLibraryLogs returns a libraryLogs; only the process's one, libLogs,
// installs its forwarders (tests build others to try the routing).
func newLibraryLogs(process bool) *libraryLogs {
	return &libraryLogs{process: process, limits: make(map[string]*ratelog.Limiter)}
}

// attach makes logger the target of the library loggers, installing the
// forwarders in the process on first use, and returns the function that
// detaches it again (Main's closeAll calls it).
func (l *libraryLogs) attach(logger zerolog.Logger) (detach func() error) {
	l.install.Do(func() {
		if !l.process {
			return
		}
		goredis.SetLogger(redisLogger{l})
		log.SetFlags(0)
		log.SetPrefix("")
		log.SetOutput(stdLogWriter{l})
	})
	p := &logger
	l.mu.Lock()
	l.attached = append(l.attached, p)
	l.target.Store(p)
	l.mu.Unlock()
	return func() error {
		l.mu.Lock()
		for i, a := range l.attached {
			if a == p {
				l.attached = append(l.attached[:i], l.attached[i+1:]...)
				break
			}
		}
		var flush []*ratelog.Limiter
		if n := len(l.attached); n > 0 {
			l.target.Store(l.attached[n-1])
		} else {
			// Keep p: something may still log on the way out. Sum up
			// what the limits held back, before the process exits.
			for _, lim := range l.limits {
				flush = append(flush, lim)
			}
		}
		l.mu.Unlock()
		for _, lim := range flush {
			lim.Stop()
		}
		return nil
	}
}

// limiter returns the rate limiter of go-redis lines with format.
func (l *libraryLogs) limiter(format string) *ratelog.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim, ok := l.limits[format]; ok {
		return lim
	}
	key := format
	if len(l.limits) >= maxRedisFormats {
		key = ""
		if lim, ok := l.limits[key]; ok {
			return lim
		}
	}
	lim := ratelog.New(ratelog.Options{Burst: redisLogBurst, Window: redisLogWindow, Report: func(n int) {
		if t := l.target.Load(); t != nil {
			t.Warn().Str("log", "redis").Int("suppressed", n).Dur("window", redisLogWindow).Str("format", key).
				Msg("more Redis client lines like this not logged")
		}
	}})
	l.limits[key] = lim
	return lim
}

// redisLogger is go-redis's logger (its internal.Logging interface).
type redisLogger struct{ l *libraryLogs }

// Printf logs one go-redis line at warn, unless its format has been
// logged redisLogBurst times in this window already.
func (r redisLogger) Printf(_ context.Context, format string, v ...any) {
	t := r.l.target.Load()
	if t == nil || !r.l.limiter(format).Allow() {
		return
	}
	msg := strings.TrimPrefix(strings.TrimSpace(fmt.Sprintf(format, v...)), "redis: ")
	t.Warn().Str("log", "redis").Msg(msg)
}

// stdLogWriter is the standard log package's output.
type stdLogWriter struct{ l *libraryLogs }

// Write logs one line of the log package as one event (a multi-line
// message, such as a panic with its stack, stays one event). certmagic's
// "[ERROR]", "[WARNING]" and "[INFO]" prefixes become the level, and
// "panic:" is an error; anything else is a warning.
func (w stdLogWriter) Write(p []byte) (int, error) {
	t := w.l.target.Load()
	if t == nil {
		return len(p), nil
	}
	msg := strings.TrimRight(string(p), "\n")
	lvl := zerolog.WarnLevel
	for prefix, l := range map[string]zerolog.Level{"[ERROR] ": zerolog.ErrorLevel, "[WARNING] ": zerolog.WarnLevel, "[INFO] ": zerolog.InfoLevel} {
		if rest, ok := strings.CutPrefix(msg, prefix); ok {
			msg, lvl = rest, l
		}
	}
	if strings.HasPrefix(msg, "panic:") {
		lvl = zerolog.ErrorLevel
	}
	t.WithLevel(lvl).Str("log", "stdlog").Msg(msg)
	return len(p), nil
}
