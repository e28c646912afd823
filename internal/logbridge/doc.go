// Package logbridge routes the logs of libraries that do not log through
// a zerolog.Logger Sidecar passes in into Sidecar's zerolog log:
//
//   - certmagic logs through a *zap.Logger: [NewZap] is one whose core
//     writes each entry as one zerolog event, at the level a [Leveler]
//     allows;
//   - go-redis and the standard library's log package log through a
//     logger of the whole process: a [Router], once installed, forwards
//     their lines to the zerolog logger attached last that is still
//     attached, go-redis's rate-limited per message format.
//
// Installing a Router is global state that cannot be avoided (go-redis's
// redis.SetLogger, the log package's log.SetOutput); a process installs
// one Router, cmd/sidecar/app's, and nothing else here is global.
package logbridge
