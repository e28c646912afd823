package proxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// omitLogInterval is the least time between two warnings about session
// headers sent without their data.
const omitLogInterval = time.Minute

// omitLog rate-limits the warning about headers sent without their data:
// every request of such a session would repeat it. total counts all of
// them, across header secret rotations (each generation's HeaderSigner
// counts its own).
type omitLog struct {
	total      atomic.Uint64
	mu         sync.Mutex
	next       time.Time // no warning before this
	suppressed int       // omissions not warned about since the last warning
}

// signHeader signs the request's session header. A session whose header
// would pass headers.max_bytes (written before the budget, or under a
// larger one) is sent without its data, so that the app server accepts
// the request and the app can still log the user out; that is worth a
// warning, at most once per omitLogInterval.
func (p *Proxy) signHeader(st *reqState) error {
	tok, omitted, err := st.keys.Header.SignFit(st.sess, st.id)
	if err != nil {
		return err
	}
	st.jwt, st.dataOmitted = tok, omitted
	if omitted {
		p.omitted.total.Add(1)
		p.warnDataOmitted(st)
	}
	return nil
}

func (p *Proxy) warnDataOmitted(st *reqState) {
	now := p.clock()
	p.omitted.mu.Lock()
	if now.Before(p.omitted.next) {
		p.omitted.suppressed++
		p.omitted.mu.Unlock()
		return
	}
	suppressed := p.omitted.suppressed
	p.omitted.next, p.omitted.suppressed = now.Add(omitLogInterval), 0
	p.omitted.mu.Unlock()
	rec := st.sess.Record()
	p.log.Warn().Str("request_id", st.id).Str("sid", st.sess.SID()).
		Int("session_bytes", rec.Size()).Int("principal_bytes", len(rec.Principal)).
		Int("header_max_bytes", st.keys.Header.MaxBytes()).Int("suppressed", suppressed).
		Uint64("total", p.omitted.total.Load()).
		Msg("session header too large for headers.max_bytes: sent without its data (data_omitted); the app can still destroy the session")
}

// DataOmitted counts the requests whose session header was sent without
// its data because it would have passed headers.max_bytes.
func (p *Proxy) DataOmitted() uint64 { return p.omitted.total.Load() }
