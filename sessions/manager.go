package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ErrStoreUnavailable wraps every store failure that is not one of the
// store sentinels: the store could not be reached in time or failed. The
// proxy answers 503 with Retry-After.
var ErrStoreUnavailable = errors.New("sessions: store unavailable")

// Options configure a Manager. Zero values of optional fields are the
// stated defaults.
type Options struct {
	// Store keeps the sessions. Required.
	Store Store
	// Signer signs and verifies cookie values. Required.
	Signer *Signer
	// IdleTimeout is the sliding expiry; 0 means DefaultIdleTimeout (30m).
	IdleTimeout time.Duration
	// AbsoluteTimeout caps a session's life from creation; 0 means
	// DefaultAbsoluteTimeout (12h).
	AbsoluteTimeout time.Duration
	// TouchInterval: a read slides the idle expiry only when it was last
	// slid longer ago than this; 0 means DefaultTouchInterval (1m).
	TouchInterval time.Duration
	// MaxBytes is the largest session (Record.Size); 0 means
	// DefaultMaxBytes (2048). A session already larger (written under a
	// larger MaxBytes) takes writes that do not grow it.
	MaxBytes int
	// StoreTimeout bounds each store operation; 0 means
	// DefaultStoreTimeout (2s).
	StoreTimeout time.Duration
	// Header, when set, is the signer of the session header: a write after
	// which the header would pass its budget (HeaderOptions.MaxBytes) is
	// refused with ErrTooLarge. nil: no header budget is enforced.
	Header *HeaderSigner
	// TombstoneTTL is how long a token that a regenerate moved away from
	// stays known as replaced (Delta.Tombstone): requests that still carry
	// it are served as anonymous and their writes are refused with
	// ErrReplaced, instead of creating a fresh session whose cookie would
	// replace the login's. 0 means DefaultTombstoneTTL (5m); a negative
	// value leaves no tombstone.
	TombstoneTTL time.Duration
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

func (o Options) withDefaults() Options {
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.AbsoluteTimeout == 0 {
		o.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if o.TouchInterval == 0 {
		o.TouchInterval = DefaultTouchInterval
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.StoreTimeout == 0 {
		o.StoreTimeout = DefaultStoreTimeout
	}
	switch {
	case o.TombstoneTTL == 0:
		o.TombstoneTTL = DefaultTombstoneTTL
	case o.TombstoneTTL < 0:
		o.TombstoneTTL = 0 // Delta.Tombstone's "none"
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

// Manager runs the session side of each request: Load before the app is
// called, Commit with what the app's response asked for.
type Manager struct {
	opts Options
}

// NewManager returns a Manager; it fails when Store or Signer is missing or
// the timeouts contradict each other.
func NewManager(opts Options) (*Manager, error) {
	opts = opts.withDefaults()
	switch {
	case opts.Store == nil:
		return nil, errors.New("sessions: Options.Store is required")
	case opts.Signer == nil:
		return nil, errors.New("sessions: Options.Signer is required")
	case opts.TouchInterval >= opts.IdleTimeout:
		return nil, errors.New("sessions: TouchInterval must be shorter than IdleTimeout")
	case opts.AbsoluteTimeout < opts.IdleTimeout:
		return nil, errors.New("sessions: AbsoluteTimeout must not be shorter than IdleTimeout")
	}
	return &Manager{opts: opts}, nil
}

// now is the clock at the millisecond precision stores keep.
func (m *Manager) now() time.Time { return m.opts.Clock().Truncate(time.Millisecond) }

// Signer is the cookie signer the Manager was built with, which Identify
// uses. A caller that rotates cookie secrets while running (the proxy, on
// SIGHUP) keeps its current signer itself and passes it to IdentifyWith.
func (m *Manager) Signer() *Signer { return m.opts.Signer }

// storeErr classifies an error from the store.
func storeErr(op string, err error) error {
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrExists),
		errors.Is(err, ErrTooLarge), errors.Is(err, ErrConflict),
		errors.Is(err, ErrReplaced):
		return err
	}
	return fmt.Errorf("%w: %s: %w", ErrStoreUnavailable, op, err)
}

// call runs one store operation under the store timeout and accounts its
// time to s.
func (m *Manager) call(ctx context.Context, s *Session, op string, fn func(context.Context) error) error {
	dc := newDeadlineCtx(ctx, m.opts.StoreTimeout) // a timer only if the store waits
	defer dc.stop()
	start := time.Now()
	err := fn(dc)
	s.storeTime += time.Since(start)
	if err != nil {
		return storeErr(op, err)
	}
	return nil
}

// Identify verifies the request's cookie value ("" when there is none)
// without touching the store. A malformed or forged cookie gives an
// anonymous Session with BadCookie set. Use Fetch to read the session;
// between the two the caller may take the session's lock (LockKey).
func (m *Manager) Identify(cookieValue string) *Session {
	return m.IdentifyWith(m.opts.Signer, cookieValue)
}

// IdentifyWith is Identify with signer in place of the Manager's Signer:
// a cookie that verifies only under one of signer's older secrets is
// re-issued when the session is next committed (Session.CookieOp), and
// the caller signs that cookie with the same signer.
func (m *Manager) IdentifyWith(signer *Signer, cookieValue string) *Session {
	s := &Session{}
	if cookieValue == "" {
		return s
	}
	tok, old, err := signer.Verify(cookieValue)
	if err != nil {
		s.badCookie = true
		return s
	}
	s.token, s.verified, s.oldSecret = tok, true, old
	return s
}

// Fetch reads the live record of an identified session, sliding its idle
// expiry when a touch is due. A session that is gone stays anonymous; one
// that was regenerated away (ErrReplaced from the store) stays anonymous
// too and is marked Replaced. The only error is ErrStoreUnavailable
// (wrapped). Sessions without a verified cookie cost no store lookup.
func (m *Manager) Fetch(ctx context.Context, s *Session) error {
	if !s.verified {
		return nil
	}
	now := m.now()
	s.touch = Touch{
		Before:  now.Add(m.opts.IdleTimeout - m.opts.TouchInterval),
		IdleExp: now.Add(m.opts.IdleTimeout),
	}
	touch := &s.touch // in the Session: one allocation fewer per read
	if s.guardVersion {
		ctx = FreshRead(ctx) // a cached copy may predate the last lock holder's write
	}
	var rec *Record
	err := m.call(ctx, s, "load", func(ctx context.Context) error {
		var err error
		rec, err = m.opts.Store.Load(ctx, s.storeKey(), touch)
		return err
	})
	switch {
	case errors.Is(err, ErrReplaced):
		s.replaced, s.outcome = true, OutcomeReplaced
		return nil
	case errors.Is(err, ErrNotFound):
		return nil
	case err != nil:
		return err
	case !rec.Live(now):
		return nil
	}
	s.rec = rec
	s.outcome = OutcomeLoaded
	return nil
}

// Load is Identify then Fetch.
func (m *Manager) Load(ctx context.Context, cookieValue string) (*Session, error) {
	s := m.Identify(cookieValue)
	return s, m.Fetch(ctx, s)
}

// Commit applies what the app's response asked for. Patches are merged
// into per-attribute deltas (RFC 7396), then the principal, then the
// action. App errors (ErrBadPatch, ErrBadAction, ErrTooLarge: past
// max_bytes, the header budget or MaxPrincipalBytes),
// ErrConflict (with GuardVersion, when another write got in first),
// ErrReplaced and ErrStoreUnavailable leave the session exactly as it was.
// The write is not cancelled when the client goes away: the app has
// already acted on it.
//
// ErrReplaced refuses a write from a request whose token a regenerate
// moved away, whether the store said so when the request loaded it
// (Replaced) or when the write reached it. A write is anything that would
// create a session on an anonymous request (a non-empty patch or
// principal) and any action, destroy included: creating a session would
// set a cookie that replaces the login's in the browser, and expiring the
// cookie would log the browser's new session out. Whoever holds the old
// token never reaches the new session. Such a request never sets or
// clears the cookie.
func (m *Manager) Commit(ctx context.Context, s *Session, c *Change) error {
	if c.Empty() {
		m.settleCookie(s)
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	var attrs map[string]json.RawMessage
	if s.rec != nil {
		attrs = s.rec.Attrs
	}
	set, del, err := Merge(attrs, c.Patches, PatchLimits{MaxBytes: PatchBytesFactor * m.opts.MaxBytes})
	if err != nil {
		return err
	}
	principal := c.Principal
	if principal != nil && s.rec != nil && *principal == s.rec.Principal {
		principal = nil
	}
	if s.replaced {
		if c.Action != ActionNone || len(set) > 0 || (principal != nil && *principal != "") {
			return fmt.Errorf("refusing a write with a token a regenerate moved away: %w", ErrReplaced)
		}
		return nil // a late read, or a write of nothing: the cookie is left alone
	}
	if c.Action == ActionDestroy {
		return m.destroy(ctx, s)
	}
	now := m.now()
	d := &Delta{
		Set:       set,
		Delete:    del,
		Principal: principal,
		IdleExp:   now.Add(m.opts.IdleTimeout),
		MaxBytes:  m.writeMaxBytes(s),
	}
	if err := m.checkLimits(s, d); err != nil {
		return err
	}
	if c.Action == ActionRegenerate {
		d.Tombstone = m.opts.TombstoneTTL
	}
	if s.guardVersion && s.rec != nil {
		d.BaseVersion = s.rec.Version
	}
	switch {
	case s.rec == nil && len(set) == 0 && (principal == nil || *principal == ""):
		m.settleCookie(s) // nothing worth creating a session for
		return nil
	case s.rec == nil:
		return m.create(ctx, s, d, now)
	case c.Action == ActionRegenerate:
		return m.regenerate(ctx, s, d)
	case len(set) == 0 && len(del) == 0 && principal == nil:
		m.settleCookie(s)
		return nil
	}
	return m.apply(ctx, s, d)
}

// settleCookie decides the cookie when nothing is written: re-issue one
// that verified under an old secret. A cookie whose session is gone is
// left alone: the request may be a straggler from before a regenerate,
// and expiring it would delete the browser's new login cookie (same name,
// path and domain). Only an explicit destroy expires the cookie.
func (m *Manager) settleCookie(s *Session) {
	if s.rec != nil && s.oldSecret {
		s.cookie = CookieSet
	}
}

// destroy deletes the session and expires the cookie. A store whose Delete
// reports ErrReplaced (the session was regenerated away while the request
// ran) gets the write refused like any other, so that the browser's new
// cookie is not expired; a store that deletes the tombstone silently
// cannot be told apart from an ordinary logout.
func (m *Manager) destroy(ctx context.Context, s *Session) error {
	if s.rec != nil {
		err := m.call(ctx, s, "delete", func(ctx context.Context) error {
			return m.opts.Store.Delete(ctx, s.storeKey())
		})
		if errors.Is(err, ErrReplaced) {
			return m.replacedWhileRunning(s, err)
		}
		if err != nil {
			return err
		}
		s.rec = nil
		s.outcome = OutcomeDestroyed
	}
	if s.verified {
		s.cookie = CookieExpire
	}
	return nil
}

func (m *Manager) create(ctx context.Context, s *Session, d *Delta, now time.Time) error {
	rec := &Record{
		Attrs:     map[string]json.RawMessage{},
		Version:   1,
		Created:   now,
		IdleExp:   d.IdleExp,
		AbsExp:    now.Add(m.opts.AbsoluteTimeout),
		ClientIP:  ClientIP(s.clientAddr),
		UserAgent: CleanUserAgent(s.userAgent),
	}
	d.ApplyTo(rec.Attrs)
	if d.Principal != nil {
		rec.Principal = *d.Principal
	}
	if rec.Size() > m.opts.MaxBytes {
		return fmt.Errorf("creating session of %d bytes (max_bytes %d): %w", rec.Size(), m.opts.MaxBytes, ErrTooLarge)
	}
	tok, err := NewToken()
	if err != nil {
		return err
	}
	rec.Handle = tok.SID()
	key := tok.Key()
	if err := m.call(ctx, s, "create", func(ctx context.Context) error {
		return m.opts.Store.Create(ctx, key, rec)
	}); err != nil {
		return err // ErrExists on a fresh 256-bit token would mean a broken RNG
	}
	s.setToken(tok, key)
	s.rec, s.outcome, s.cookie = rec, OutcomeCreated, CookieSet
	return nil
}

func (m *Manager) regenerate(ctx context.Context, s *Session, d *Delta) error {
	tok, err := NewToken()
	if err != nil {
		return err
	}
	d.Handle = tok.SID()
	var rec *Record
	key := tok.Key()
	err = m.call(ctx, s, "regenerate", func(ctx context.Context) error {
		var err error
		rec, err = m.opts.Store.Regenerate(ctx, s.storeKey(), key, d)
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		m.gone(s)
		return nil
	case errors.Is(err, ErrReplaced):
		return m.replacedWhileRunning(s, err)
	case err != nil:
		return err
	}
	s.setToken(tok, key)
	s.rec, s.outcome, s.cookie = rec, OutcomeRegenerated, CookieSet
	return nil
}

func (m *Manager) apply(ctx context.Context, s *Session, d *Delta) error {
	var ver int64
	err := m.call(ctx, s, "apply", func(ctx context.Context) error {
		var err error
		ver, err = m.opts.Store.Apply(ctx, s.storeKey(), d)
		return err
	})
	switch {
	case errors.Is(err, ErrNotFound):
		m.gone(s)
		return nil
	case errors.Is(err, ErrReplaced):
		return m.replacedWhileRunning(s, err)
	case err != nil:
		return err
	}
	rec := *s.rec
	rec.Attrs = make(map[string]json.RawMessage, len(s.rec.Attrs)+len(d.Set))
	for k, v := range s.rec.Attrs {
		rec.Attrs[k] = v
	}
	d.ApplyTo(rec.Attrs)
	if d.Principal != nil {
		rec.Principal = *d.Principal
	}
	rec.Version = ver
	if d.IdleExp.After(rec.IdleExp) {
		rec.IdleExp = d.IdleExp
	}
	s.rec, s.outcome = &rec, OutcomeWritten
	if s.oldSecret {
		s.cookie = CookieSet
	}
	return nil
}

// gone records that the session vanished (destroyed, regenerated away or
// expired) while the request ran: the write is dropped, never resurrecting
// it, and the cookie is left alone (see settleCookie).
func (m *Manager) gone(s *Session) {
	s.rec = nil
	s.outcome = OutcomeGone
	s.cookie = CookieKeep
}

// replacedWhileRunning records that the session was regenerated away
// while the request ran (the store refused its write with ErrReplaced):
// the request is left without a session and its cookie alone, and the
// write is refused.
func (m *Manager) replacedWhileRunning(s *Session, err error) error {
	s.rec = nil
	s.replaced = true
	s.outcome = OutcomeReplaced
	s.cookie = CookieKeep
	return fmt.Errorf("session regenerated away while the request ran: %w", err)
}
