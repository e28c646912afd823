package sessions

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// MaxPrincipalBytes is the longest principal a write may set (protocol
// §3). The principal travels in every session header and names the
// store's principal index; an e-mail address (at most 254 bytes), a user
// id or an LDAP DN fits.
const MaxPrincipalBytes = 512

// checkLimits refuses, with ErrTooLarge, a write d to s whose principal
// is longer than MaxPrincipalBytes or after which the session's header
// would pass the header budget (Options.Header). A write that does not
// grow the header of a session already over the budget (one written
// before the budget, or under a larger one) is allowed, so that such a
// session can still shrink, be logged out or be left as it is.
//
// The header is predicted from the session as loaded plus d; a concurrent
// write of other attributes is not seen, and a session it pushes over the
// budget is sent without its data (HeaderSigner.SignFit) until it
// shrinks. session.max_bytes, which the store enforces atomically, keeps
// that rare.
func (m *Manager) checkLimits(s *Session, d *Delta) error {
	if d.Principal != nil && len(*d.Principal) > MaxPrincipalBytes {
		return fmt.Errorf("principal of %d bytes (limit %d): %w", len(*d.Principal), MaxPrincipalBytes, ErrTooLarge)
	}
	h := m.opts.Header
	if h == nil || h.MaxBytes() == 0 {
		return nil
	}
	after := predictRecord(s.rec, d)
	n := h.Len(after)
	if n <= h.MaxBytes() {
		return nil
	}
	if s.rec != nil {
		before := *after
		before.Attrs, before.Principal = s.rec.Attrs, s.rec.Principal
		if n <= h.Len(&before) {
			return nil // does not grow a session already over the budget
		}
	}
	return fmt.Errorf("session header of %d bytes would exceed headers.max_bytes %d: %w", n, h.MaxBytes(), ErrTooLarge)
}

// predictRecord is the record rec (nil: none yet) becomes after d, with
// the next version and d's idle expiry.
func predictRecord(rec *Record, d *Delta) *Record {
	next := &Record{Attrs: map[string]json.RawMessage{}, Version: 1, IdleExp: d.IdleExp, Created: d.IdleExp, AbsExp: d.IdleExp}
	if rec != nil {
		for k, v := range rec.Attrs {
			next.Attrs[k] = v
		}
		next.Principal, next.Version = rec.Principal, rec.Version+1
		next.Created, next.AbsExp = rec.Created, rec.AbsExp
	}
	d.ApplyTo(next.Attrs)
	if d.Principal != nil {
		next.Principal = *d.Principal
	}
	return next
}

// writeMaxBytes is the Delta.MaxBytes of a write to s: session.max_bytes,
// or the session's own size when it is already larger (written under a
// larger max_bytes), so that a write that does not grow it is accepted.
func (m *Manager) writeMaxBytes(s *Session) int {
	if s.rec != nil && s.rec.Size() > m.opts.MaxBytes {
		return s.rec.Size()
	}
	return m.opts.MaxBytes
}

// SessionHeaderLen is the length of the header h signs for a session of n
// bytes (Record.Size) held in one attribute, without a principal: the
// smallest header a session of that size can have. More attributes add
// about 4/3 × 4 bytes each and a principal 4/3 × (its length + 8).
func (h *HeaderSigner) SessionHeaderLen(n int) int {
	now := h.opts.Clock()
	rec := &Record{Version: 1, Created: now, IdleExp: now.Add(time.Hour), AbsExp: now.Add(time.Hour)}
	if n >= 3 {
		rec.Attrs = map[string]json.RawMessage{"a": json.RawMessage(`"` + strings.Repeat("x", n-3) + `"`)}
	}
	return h.Len(rec)
}

// LargestSession is the size (Record.Size) of the largest session, held
// in one attribute and without a principal, whose header h sends whole;
// with no budget it is 0.
func (h *HeaderSigner) LargestSession() int {
	lo, hi := 0, h.MaxBytes()
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if h.SessionHeaderLen(mid) <= h.MaxBytes() {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}
