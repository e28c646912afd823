package proxy

import (
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

// statusWriter records the status and size of the response. Unwrap lets
// http.ResponseController (flush, hijack for upgrades) reach the real
// writer.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
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

// logAccess writes one access-log line. It never logs cookies, tokens,
// session data, query strings or secrets: only the path and outcomes.
func (p *Proxy) logAccess(r *http.Request, st *reqState) {
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
		Dur("duration", time.Since(st.start)).
		Str("upstream", st.upstream).
		Str("request_id", st.id).
		Str("session", st.outcome()).
		Dur("store_time", st.storeTime()).
		Int64("bytes", st.sw.bytes).
		Str("remote", r.RemoteAddr)
	if st.fwd.Client.IsValid() {
		// The client Sidecar believes: the remote, or an address a
		// trusted proxy forwarded.
		e = e.Stringer("client", st.fwd.Client)
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
	if st.failed {
		e = e.Str("error_kind", st.errKind.String()).Str("error", st.err.Error())
	}
	e.Msg("request")
}
