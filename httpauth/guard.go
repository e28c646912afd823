package httpauth

import (
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/internal/ratelog"
)

// The defaults of Limits' zero values: 10 failures within a minute lock
// an address out for a minute.
const (
	DefaultMaxFailures = 10
	DefaultWindow      = time.Minute
	DefaultLockout     = time.Minute
	DefaultMaxClients  = 10000
	DefaultLogBurst    = 5
)

// Limits bound what failed authentications cost: the log lines they
// write and how many tokens one address may try. Every zero value is a
// stated default.
type Limits struct {
	// MaxFailures is how many failed authentications one address (an IPv4
	// address, or an IPv6 /64) may make within Window; the last of them
	// locks it out for Lockout. 0 means DefaultMaxFailures (10); a
	// negative value never locks out.
	MaxFailures int
	// Window is the span failures are counted over, from an address's
	// first failure. 0 means DefaultWindow (1m).
	Window time.Duration
	// Lockout is how long a locked-out address gets 429. 0 means
	// DefaultLockout (1m).
	Lockout time.Duration
	// MaxClients bounds the addresses remembered; past it the one that
	// failed least recently is forgotten (its count and any lockout with
	// it). 0 means DefaultMaxClients (10000: about 2.2 MB).
	MaxClients int
	// LogBurst is how many refusals are logged one by one per Window, over
	// all addresses (and as many lockouts); the rest are summed up in one
	// line per window. 0 means DefaultLogBurst (5); a negative value logs
	// only the summaries.
	LogBurst int
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

func (l Limits) withDefaults() Limits {
	if l.MaxFailures == 0 {
		l.MaxFailures = DefaultMaxFailures
	}
	if l.Window <= 0 {
		l.Window = DefaultWindow
	}
	if l.Lockout <= 0 {
		l.Lockout = DefaultLockout
	}
	if l.MaxClients <= 0 {
		l.MaxClients = DefaultMaxClients
	}
	if l.LogBurst == 0 {
		l.LogBurst = DefaultLogBurst
	}
	if l.Clock == nil {
		l.Clock = time.Now
	}
	return l
}

// GuardOptions configure a Guard.
type GuardOptions struct {
	// Token is the bearer token to accept. Required (non-empty); only its
	// SHA-256 digest is kept.
	Token []byte
	// Name names the API in log lines ("admin API", "lock service").
	Name string
	// Limits bound failed authentications.
	Limits Limits
	// Logger receives refusals, lockouts and the summaries of both; the
	// zero Logger discards. Never the token presented.
	Logger zerolog.Logger
}

// Guard authenticates the requests of one API with a Bearer and bounds
// failed attempts per client address: after Limits.MaxFailures failures
// within Limits.Window, the address gets 429 with Retry-After for
// Limits.Lockout. A request from an address that is not locked out is
// never delayed, whatever the others do.
//
// During a lockout even the right token gets 429: the token is not
// checked, so a guesser learns nothing until the lockout ends, and gets at
// most MaxFailures guesses per Window or per Lockout, whichever is
// shorter. A success does not reset the count: a client with the token
// at the guesser's address would otherwise give it unlimited tries. A
// legitimate client that shares the address (behind the same NAT, or an
// app next to a misconfigured one) waits out the lockout too;
// MaxFailures < 0 turns lockouts off where that matters more.
//
// The address is the connection's peer (RemoteAddr), never a forwarding
// header: these APIs are not meant to sit behind a proxy. An IPv6 peer
// counts as its /64.
//
// A Guard is safe for concurrent use. Its log limiters each arm at most
// one timer at a time, which fires once at the end of a window with
// suppressed lines and exits.
type Guard struct {
	bearer   Bearer
	limits   Limits
	name     string
	log      zerolog.Logger
	refusals *ratelog.Limiter // 401 and 429 lines
	lockouts *ratelog.Limiter // "locked out" lines

	mu      sync.Mutex
	clients *clientTable
}

// NewGuard returns a Guard for o, or an error when o.Token is empty.
func NewGuard(o GuardOptions) (*Guard, error) {
	if len(o.Token) == 0 {
		return nil, errors.New("httpauth: GuardOptions.Token is required")
	}
	l := o.Limits.withDefaults()
	g := &Guard{
		bearer:  NewBearer(o.Token),
		limits:  l,
		name:    o.Name,
		log:     o.Logger,
		clients: newClientTable(l.MaxClients),
	}
	summary := func(what string) func(int) {
		return func(n int) {
			g.log.Warn().Int("suppressed", n).Dur("window", l.Window).Msgf("%s: %s not logged", g.name, what)
		}
	}
	g.refusals = ratelog.New(ratelog.Options{Burst: l.LogBurst, Window: l.Window, Clock: l.Clock,
		Report: summary("more refused authentications")})
	g.lockouts = ratelog.New(ratelog.Options{Burst: l.LogBurst, Window: l.Window, Clock: l.Clock,
		Report: summary("more lockouts")})
	return g, nil
}

// Check authenticates r. It returns 0 when r carries the token and its
// address is not locked out: serve it. Otherwise it returns the status to
// answer with, having set the header that goes with it on w, and the
// caller writes the body:
//   - 401 and "WWW-Authenticate: Bearer": no token, another scheme, or a
//     wrong token (one more failure for the address);
//   - 429 and Retry-After (whole seconds, rounded up): the address is
//     locked out; its token was not checked.
func (g *Guard) Check(w http.ResponseWriter, r *http.Request) int {
	return g.check(w, r, g.bearer.Allows, "Bearer", true)
}

// CheckBasic is Check for a browser: the token is the password of HTTP
// Basic authentication ("Authorization: Basic", any user name), and a 401
// carries `WWW-Authenticate: Basic realm="<realm>", charset="UTF-8"`, which
// makes a browser ask for it (realm is a constant of the caller's, without
// a double quote). A request without an Authorization header
// is not a failure (a browser's first request never has one): it gets
// the 401 without counting against its address or being logged. Wrong
// credentials, or another scheme, count as Check's do, and a locked-out
// address gets the same 429: Check and CheckBasic share the count.
func (g *Guard) CheckBasic(w http.ResponseWriter, r *http.Request, realm string) int {
	challenge := `Basic realm="` + realm + `", charset="UTF-8"`
	return g.check(w, r, g.bearer.AllowsBasic, challenge, r.Header.Get("Authorization") != "")
}

// check is Check with the credential test allows and the challenge a 401
// carries; a refusal counts as a failure only when counted.
func (g *Guard) check(w http.ResponseWriter, r *http.Request, allows func(*http.Request) bool, challenge string, counted bool) int {
	key := clientKey(r.RemoteAddr)
	now := g.limits.Clock()
	g.mu.Lock()
	var wait time.Duration
	if c := g.clients.get(key); c != nil && now.Before(c.lockedUntil) {
		wait = c.lockedUntil.Sub(now)
	}
	g.mu.Unlock()
	if wait > 0 {
		if g.refusals.Allow() {
			g.log.Warn().Str("remote_addr", r.RemoteAddr).Dur("retry_after", wait).
				Msgf("%s: refused a locked-out address", g.name)
		}
		w.Header().Set("Retry-After", strconv.FormatInt(int64((wait+time.Second-1)/time.Second), 10))
		return http.StatusTooManyRequests
	}
	if allows(r) {
		return 0
	}
	w.Header().Set("WWW-Authenticate", challenge)
	if !counted {
		return http.StatusUnauthorized
	}
	failures, locked := g.fail(key, now)
	if g.refusals.Allow() {
		g.log.Warn().Str("remote_addr", r.RemoteAddr).Int("failures", failures).
			Msgf("%s: authentication failed", g.name)
	}
	if locked && g.lockouts.Allow() {
		g.log.Warn().Str("remote_addr", r.RemoteAddr).Int("failures", failures).Dur("lockout", g.limits.Lockout).
			Msgf("%s: too many failed authentications; address locked out", g.name)
	}
	return http.StatusUnauthorized
}

// fail counts a failure of the address at key and returns the failures in
// its window so far and whether this one locked it out.
func (g *Guard) fail(key netip.Prefix, now time.Time) (int, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.clients.touch(key)
	if now.Sub(c.start) >= g.limits.Window {
		c.start, c.failures = now, 0
	}
	c.failures++
	n := c.failures
	if g.limits.MaxFailures > 0 && n >= g.limits.MaxFailures {
		c.lockedUntil = now.Add(g.limits.Lockout)
		c.start, c.failures = time.Time{}, 0 // counting starts over after the lockout
		return n, true
	}
	return n, false
}

// Stop reports the log lines still held back for a summary now, and
// cancels the summary timers. The Guard stays usable.
func (g *Guard) Stop() {
	g.refusals.Stop()
	g.lockouts.Stop()
}
