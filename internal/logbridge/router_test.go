package logbridge

import (
	"context"
	"log"
	"net"
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/internal/ratelog"
)

// stopLimiters reports what l's limiters hold back and stops their
// timers.
func stopLimiters(l *Router) {
	l.mu.Lock()
	var lims []*ratelog.Limiter
	for _, lim := range l.limits {
		lims = append(lims, lim)
	}
	l.mu.Unlock()
	for _, lim := range lims {
		lim.Stop()
	}
}

// attached returns a Router (not installed) with a logger attached that
// writes to out, detached when the test ends.
func attached(t *testing.T) (l *Router, out *logtest.Buffer) {
	l, out = NewRouter(), &logtest.Buffer{}
	detach := l.Attach(zerolog.New(out))
	t.Cleanup(func() { _ = detach() })
	return l, out
}

// TestLibraryLogsFollowTheRunningMain: the library lines go to the logger
// (a Main's) attached last that is still attached, or, when none is, to
// the last one.
func TestLibraryLogsFollowTheRunningMain(t *testing.T) {
	l := NewRouter()
	var a, b, c logtest.Buffer
	r := redisLogger{l}
	say := func(msg string) { r.Printf(context.Background(), "redis: %s", msg) }

	say("before any Main") // dropped: nowhere to go yet
	t.Cleanup(func() { stopLimiters(l) })
	detachA := l.Attach(zerolog.New(&a))
	detachB := l.Attach(zerolog.New(&b))
	say("one")
	require.NoError(t, detachB())
	say("two")
	detachC := l.Attach(zerolog.New(&c))
	require.NoError(t, detachA())
	say("three")
	require.NoError(t, detachC())
	say("four")

	assert.Equal(t, 1, b.Count(`"message":"one"`))
	assert.Equal(t, 1, a.Count(`"message":"two"`))
	assert.Equal(t, 1, c.Count(`"message":"three"`))
	assert.Equal(t, 1, c.Count(`"message":"four"`), "the last Main keeps the lines once none runs")
	for _, out := range []string{a.String(), b.String(), c.String()} {
		assert.NotContains(t, out, "before any Main")
		for _, e := range logtest.JSONLines(t, out) {
			assert.Equal(t, "redis", e["log"])
			assert.Equal(t, "warn", e["level"])
		}
	}
}

// TestRedisLinesAreRateLimitedPerFormat: an outage's one line per request
// becomes redisLogBurst lines and a count; another kind of line still
// gets through.
func TestRedisLinesAreRateLimitedPerFormat(t *testing.T) {
	l, out := attached(t)
	r := redisLogger{l}
	for i := range 20 {
		r.Printf(context.Background(), "redis: connection pool: failed to dial after %d attempts: %v", 5, i)
	}
	r.Printf(context.Background(), "sentinel: selected addr=%s", "10.0.0.1:6379")
	assert.Equal(t, redisLogBurst, out.Count("connection pool: failed to dial after 5 attempts"))
	assert.Equal(t, 1, out.Count(`"message":"sentinel: selected addr=10.0.0.1:6379"`))

	l.mu.Lock()
	lim := l.limits["redis: connection pool: failed to dial after %d attempts: %v"]
	l.mu.Unlock()
	lim.Stop()
	assert.Equal(t, 1, out.Count(`"suppressed":15,"window":60000,"format":"redis: connection pool: failed to dial after %d attempts: %v","message":"more Redis client lines like this not logged"`), out.String())
	stopLimiters(l)
	logtest.JSONLines(t, out.String())
}

func TestStdLogLevels(t *testing.T) {
	l, out := attached(t)
	w := stdLogWriter{l}
	for _, line := range []string{
		"[ERROR] key auth HTTP server: accept tcp: use of closed network connection\n",
		"[WARNING] Unable to delete invalid OCSP staple file: permission denied\n",
		"[INFO] something\n",
		"panic: certificate worker: boom\ngoroutine 7 [running]:\nmain.f()\n",
		"no prefix\n",
	} {
		n, err := w.Write([]byte(line))
		require.NoError(t, err)
		assert.Equal(t, len(line), n)
	}
	lines := logtest.JSONLines(t, out.String())
	require.Len(t, lines, 5)
	for i, want := range []struct{ level, msg string }{
		{"error", "key auth HTTP server: accept tcp: use of closed network connection"},
		{"warn", "Unable to delete invalid OCSP staple file: permission denied"},
		{"info", "something"},
		{"error", "panic: certificate worker: boom\ngoroutine 7 [running]:\nmain.f()"},
		{"warn", "no prefix"},
	} {
		assert.Equal(t, want.level, lines[i]["level"])
		assert.Equal(t, want.msg, lines[i]["message"])
		assert.Equal(t, "stdlog", lines[i]["log"])
	}
}

// TestProcessLoggersAreInstalled: once a Router is installed, go-redis's
// own lines and the log package's land in the attached log as JSON.
func TestProcessLoggersAreInstalled(t *testing.T) {
	var out logtest.Buffer
	r := NewRouter()
	r.Install()
	detach := r.Attach(zerolog.New(&out))
	defer func() { _ = detach() }()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close()) // a port nobody listens on: dials are refused
	rc := goredis.NewClient(&goredis.Options{Addr: addr, DialerRetries: 1, MaxRetries: -1})
	defer rc.Close()
	require.Error(t, rc.Ping(context.Background()).Err())
	log.Printf("[ERROR] key auth HTTP server: %v", "closed")

	var redis, std int
	for _, e := range logtest.JSONLines(t, out.String()) {
		switch e["log"] {
		case "redis":
			redis++
			assert.Contains(t, e["message"], "connection pool: failed to dial")
		case "stdlog":
			std++
			assert.Equal(t, "key auth HTTP server: closed", e["message"])
		}
	}
	assert.Positive(t, redis, out.String())
	assert.Equal(t, 1, std, out.String())
}
