package proxy

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/rs/zerolog"
)

// AccessLogFormat is the access log's format.
type AccessLogFormat string

// The access log formats.
const (
	// AccessJSON logs one JSON event per request on Options.Logger (the
	// default): at info, warn for a replaced cookie's refused write,
	// error for the other failures, so log.level applies.
	AccessJSON AccessLogFormat = "json"
	// AccessCombined writes one line per request in the NCSA combined log
	// format to AccessLog.Out, whatever the log level; the JSON event of
	// each failed request still goes to Options.Logger with the cause.
	AccessCombined AccessLogFormat = "combined"
	// AccessOff writes no access log; the JSON events of failed requests
	// still go to Options.Logger.
	AccessOff AccessLogFormat = "off"
)

// Validate reports whether f is one of the formats ("" is not).
func (f AccessLogFormat) Validate() error {
	switch f {
	case AccessJSON, AccessCombined, AccessOff:
		return nil
	}
	return fmt.Errorf("%q is not one of %s, %s, %s", string(f), AccessJSON, AccessCombined, AccessOff)
}

// AccessLog configures the access log. The zero value logs JSON events.
type AccessLog struct {
	// Format is the format; "" means AccessJSON.
	Format AccessLogFormat
	// Out receives the lines of AccessCombined, each in one Write call
	// (calls never overlap). Required with AccessCombined.
	Out io.Writer
}

func (a AccessLog) validate() error {
	if a.Format == "" {
		return nil
	}
	if err := a.Format.Validate(); err != nil {
		return fmt.Errorf("proxy: Options.AccessLog.Format: %w", err)
	}
	if a.Format == AccessCombined && a.Out == nil {
		return errors.New("proxy: Options.AccessLog.Out is required with the combined format")
	}
	return nil
}

// accessWriter writes the lines of an AccessLog.
type accessWriter struct {
	format AccessLogFormat
	mu     *sync.Mutex // serialises writes to out
	out    io.Writer
}

func newAccessWriter(a AccessLog) accessWriter {
	if a.Format == "" {
		a.Format = AccessJSON
	}
	return accessWriter{format: a.Format, mu: &sync.Mutex{}, out: a.Out}
}

// write writes one line to out; a failed write is dropped (the access log
// never fails a request).
func (a accessWriter) write(line []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, _ = a.out.Write(line)
}

// statusWriter records the status and size of the response. Unwrap lets
// http.ResponseController (flush, hijack for upgrades) reach the real
// writer.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	st     *reqState // told of interim responses; nil for none
}

func (w *statusWriter) WriteHeader(code int) {
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols && w.st != nil {
		w.st.interim(w.Header()) // the ReverseProxy forwarding an app's 1xx
	}
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logAccess writes one access-log line: a JSON event, or a combined-format
// line and, for a failed request, the JSON event too. It never logs
// cookies, tokens, session data, query strings or secrets: only the path
// and outcomes.
func (p *Proxy) logAccess(r *http.Request, st *reqState) {
	if p.access.format == AccessCombined {
		p.access.write(appendCombined(nil, r, st))
	}
	if p.access.format != AccessJSON && (!st.failed || st.errKind == kindClientGone) {
		return
	}
	lvl := zerolog.InfoLevel
	switch {
	case !st.failed, st.errKind == kindClientGone:
	case st.errKind.clientFault():
		// What a client sent was refused: its problem, and under an
		// attack one line per request already.
	case st.errKind == kindReplaced, st.errKind == kindBufferFull:
		// A browser's straggler from before a login, refused by design
		// (or someone replaying an old cookie): worth seeing, not paging.
		lvl = zerolog.WarnLevel
	default:
		lvl = zerolog.ErrorLevel
	}
	e := p.log.WithLevel(lvl)
	if !e.Enabled() {
		return
	}
	e = e.Str("method", r.Method).
		Str("path", r.URL.Path).
		Int("status", st.sw.status).
		Dur("duration", st.duration()).
		Str("upstream", st.upstream).
		Str("request_id", st.id).
		Str("session", st.outcome()).
		Dur("store_time", st.storeTime()).
		Int64("bytes", st.sw.bytes).
		Str("remote", r.RemoteAddr)
	if st.fwd.Client.IsValid() {
		// The client Sidecar believes: the remote, or an address a
		// trusted proxy forwarded.
		var buf [48]byte // an IPv6 address, zone included, without allocating
		e = e.Bytes("client", st.fwd.Client.AppendTo(buf[:0]))
	}
	if st.fwd.Problem != "" {
		e = e.Str("forwarded_for", st.fwd.Problem)
	}
	if st.lockState != "" {
		e = e.Str("lock", st.lockState).Dur("lock_wait", st.lockWait)
	}
	if st.attempts > 1 {
		e = e.Int("attempts", st.attempts)
	}
	if st.spoofed > 0 {
		e = e.Int("spoofed_headers", st.spoofed)
	}
	if st.badCookie() {
		e = e.Bool("bad_cookie", true)
	}
	if st.bodyIn != nil {
		e = e.Int64("body_bytes", st.bodyIn.n.Load()).Str("body_buffer", st.body.mode())
	}
	if st.dataOmitted {
		e = e.Bool("session_data_omitted", true)
	}
	if st.idReplaced {
		e = e.Bool("request_id_replaced", true)
	}
	if st.failed {
		e = e.Str("error_kind", st.errKind.String()).Str("error", st.err.Error())
	}
	e.Msg("request")
}
