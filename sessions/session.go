package sessions

import (
	"net/netip"
	"time"
)

// Outcome is what happened to a request's session, for the access log.
type Outcome uint8

// Outcomes, in the order a request can reach them.
const (
	// OutcomeNone: no live session and nothing written.
	OutcomeNone Outcome = iota
	// OutcomeLoaded: a live session was read; nothing written.
	OutcomeLoaded
	// OutcomeCreated: the first write created a session and its cookie.
	OutcomeCreated
	// OutcomeWritten: a write was applied to the live session.
	OutcomeWritten
	// OutcomeRegenerated: the session moved to a new token.
	OutcomeRegenerated
	// OutcomeDestroyed: the session was deleted and its cookie expired.
	OutcomeDestroyed
	// OutcomeGone: the app wrote to a session that was destroyed,
	// regenerated away or expired while the request ran; the write was
	// dropped, never resurrecting it.
	OutcomeGone
	// OutcomeReplaced: the cookie names a session that a regenerate moved
	// to a new token less than the tombstone TTL ago. The request is
	// served as anonymous (the JWT says replaced), no cookie is set or
	// cleared, and a write is refused with ErrReplaced.
	OutcomeReplaced
)

var outcomeNames = [...]string{"none", "loaded", "created", "written", "regenerated", "destroyed", "gone", "replaced"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// CookieOp is what the proxy must do with the session cookie on the
// response.
type CookieOp uint8

// Cookie operations.
const (
	// CookieKeep: send no Set-Cookie.
	CookieKeep CookieOp = iota
	// CookieSet: set the cookie to Session.CookieValue.
	CookieSet
	// CookieExpire: expire the cookie in the browser.
	CookieExpire
)

// Session is one request's view of its session. It is created by
// Manager.Load and is not safe for concurrent use (one request owns it).
type Session struct {
	token     Token
	key       string // token.Key(), once computed (storeKey)
	touch     Touch  // Fetch's
	verified  bool   // a cookie verified; token is set
	oldSecret bool   // it verified only under an older secret
	badCookie bool   // a cookie was present but malformed or forged
	replaced  bool   // the token was regenerated away (its tombstone is live)
	rec       *Record
	// guardVersion makes writes conditional on the loaded version.
	guardVersion bool
	outcome      Outcome
	cookie       CookieOp
	storeTime    time.Duration
	// clientAddr and userAgent are the request's (SetClient), kept by a
	// session this request creates.
	clientAddr netip.Addr
	userAgent  string
}

// Record is the live session record, or nil when the request has none.
// Callers must not modify it.
func (s *Session) Record() *Record { return s.rec }

// SID is the public handle of the session (see Token.SID), or "" when
// there is no live session.
func (s *Session) SID() string {
	if s.rec == nil {
		return ""
	}
	return s.token.SID()
}

// appendSID appends SID() to dst without allocating.
func (s *Session) appendSID(dst []byte) []byte {
	if s.rec == nil {
		return dst
	}
	return s.token.appendSID(dst)
}

// Outcome says what happened to the session so far.
func (s *Session) Outcome() Outcome { return s.outcome }

// BadCookie reports whether the request carried a cookie that did not
// verify (treated as no cookie at all).
func (s *Session) BadCookie() bool { return s.badCookie }

// Replaced reports whether the request's cookie names a session that a
// regenerate moved to a new token (the store holds a live tombstone for
// it). Such a request has no session, keeps its cookie untouched and may
// not write: see Manager.Commit.
func (s *Session) Replaced() bool { return s.replaced }

// StoreTime is the time spent waiting on the store for this request.
func (s *Session) StoreTime() time.Duration { return s.storeTime }

// CookieOp says what the response must do with the cookie.
func (s *Session) CookieOp() CookieOp { return s.cookie }

// Verified reports whether the request carried a cookie whose MAC
// verified (the session may still turn out to be gone).
func (s *Session) Verified() bool { return s.verified }

// LockKey is the name under which the session's requests are serialised:
// the store key (a hash of the token, safe to use in a lock store), or ""
// without a verified cookie.
func (s *Session) LockKey() string {
	if !s.verified {
		return ""
	}
	return s.storeKey()
}

// storeKey is the store key of the session's token, computed once per
// token.
func (s *Session) storeKey() string {
	if s.key == "" {
		s.key = s.token.Key()
	}
	return s.key
}

// setToken gives the session a new token (a create or regenerate).
func (s *Session) setToken(t Token, key string) { s.token, s.key = t, key }

// GuardVersion makes this request's write conditional on the version it
// loaded: if another write got in first (a lock lease that expired while
// the app worked), Commit fails with ErrConflict instead of overwriting it.
func (s *Session) GuardVersion() { s.guardVersion = true }

// Token returns the session token, for the proxy to sign into the cookie
// when CookieOp is CookieSet. It must never be logged.
func (s *Session) Token() Token { return s.token }
