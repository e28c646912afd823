package logbridge

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

// The rate limit of go-redis lines, per message format.
const (
	redisLogBurst  = 5
	redisLogWindow = time.Minute
	// maxRedisFormats bounds the limiters kept: go-redis has a few hundred
	// call sites; past this many formats, the rest share one limiter.
	maxRedisFormats = 64
)

// Router routes the process-wide library loggers to the loggers attached
// to it:
//   - go-redis's, through redis.SetLogger, which every client of the
//     process shares: during an outage it complains once per failed dial
//     ("connection pool: failed to dial after 5 attempts"), plain text on
//     standard error by default;
//   - the standard library's log package, which certmagic writes a few
//     lines to (its challenge servers' errors, a stale OCSP staple it
//     could not delete, recovered panics of its workers), as would any
//     http.Server without an ErrorLog.
//
// Their lines go to the logger attached last that is still attached, or,
// when none is, to the last one that was: several programs in one test
// process each keep a working target, and nothing is written before the
// first Attach, or as plain text. go-redis lines are tagged "log":"redis"
// and logged at warn, the log package's are tagged "log":"stdlog".
//
// go-redis lines are rate-limited per message format, because a Redis
// outage makes one per request: the first 5 of each minute are logged,
// then one summary line with the count of the rest, at the minute's end
// or when the last logger detaches, whichever is first (package ratelog).
//
// A Router does nothing until Install. Its methods are safe for
// concurrent use.
type Router struct {
	install sync.Once
	target  atomic.Pointer[zerolog.Logger]

	mu       sync.Mutex
	attached []*zerolog.Logger           // the attached loggers, in attach order
	limits   map[string]*ratelog.Limiter // go-redis formats; "" is the shared one
}

// NewRouter returns a Router that is not installed.
func NewRouter() *Router {
	return &Router{limits: make(map[string]*ratelog.Limiter)}
}

// Install makes r go-redis's logger and the output of the log package
// (with no prefix and no flags: each line becomes one event). It changes
// state of the whole process, once per Router: a process should install
// one Router only.
func (r *Router) Install() {
	r.install.Do(func() {
		goredis.SetLogger(redisLogger{r})
		log.SetFlags(0)
		log.SetPrefix("")
		log.SetOutput(stdLogWriter{r})
	})
}

// Attach makes logger the target of the library lines and returns the
// function that detaches it again; it always returns nil. The last
// detach sums up what the rate limits held back, so that nothing is lost
// before the process exits.
func (r *Router) Attach(logger zerolog.Logger) (detach func() error) {
	p := &logger
	r.mu.Lock()
	r.attached = append(r.attached, p)
	r.target.Store(p)
	r.mu.Unlock()
	return func() error {
		r.mu.Lock()
		for i, a := range r.attached {
			if a == p {
				r.attached = append(r.attached[:i], r.attached[i+1:]...)
				break
			}
		}
		var flush []*ratelog.Limiter
		if n := len(r.attached); n > 0 {
			r.target.Store(r.attached[n-1])
		} else {
			// Keep p: something may still log on the way out. Sum up
			// what the limits held back, before the process exits.
			for _, lim := range r.limits {
				flush = append(flush, lim)
			}
		}
		r.mu.Unlock()
		for _, lim := range flush {
			lim.Stop()
		}
		return nil
	}
}

// limiter returns the rate limiter of go-redis lines with format.
func (r *Router) limiter(format string) *ratelog.Limiter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if lim, ok := r.limits[format]; ok {
		return lim
	}
	key := format
	if len(r.limits) >= maxRedisFormats {
		key = ""
		if lim, ok := r.limits[key]; ok {
			return lim
		}
	}
	lim := ratelog.New(ratelog.Options{Burst: redisLogBurst, Window: redisLogWindow, Report: func(n int) {
		if t := r.target.Load(); t != nil {
			t.Warn().Str("log", "redis").Int("suppressed", n).Dur("window", redisLogWindow).Str("format", key).
				Msg("more Redis client lines like this not logged")
		}
	}})
	r.limits[key] = lim
	return lim
}

// redisLogger is go-redis's logger (its internal.Logging interface).
type redisLogger struct{ r *Router }

// Printf logs one go-redis line at warn, unless its format has been
// logged redisLogBurst times in this window already.
func (l redisLogger) Printf(_ context.Context, format string, v ...any) {
	t := l.r.target.Load()
	if t == nil || !l.r.limiter(format).Allow() {
		return
	}
	msg := strings.TrimPrefix(strings.TrimSpace(fmt.Sprintf(format, v...)), "redis: ")
	t.Warn().Str("log", "redis").Msg(msg)
}

// stdLogWriter is the standard log package's output.
type stdLogWriter struct{ r *Router }

// Write logs one line of the log package as one event (a multi-line
// message, such as a panic with its stack, stays one event). certmagic's
// "[ERROR]", "[WARNING]" and "[INFO]" prefixes become the level, and
// "panic:" is an error; anything else is a warning.
func (w stdLogWriter) Write(p []byte) (int, error) {
	t := w.r.target.Load()
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
