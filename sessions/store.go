package sessions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Errors a Store returns. Callers branch on them with errors.Is; any other
// error from a Store means the store could not be reached or failed, and the
// Manager reports it wrapped in ErrStoreUnavailable.
var (
	// ErrNotFound: no live session under the key (never existed, deleted,
	// regenerated away, or expired by either timeout).
	ErrNotFound = errors.New("sessions: not found")
	// ErrExists: Create found the key already taken.
	ErrExists = errors.New("sessions: key already exists")
	// ErrTooLarge: the write would grow the session past Delta.MaxBytes.
	// Nothing was written.
	ErrTooLarge = errors.New("sessions: session would exceed max_bytes")
	// ErrConflict: Delta.BaseVersion was set and the stored version differs.
	// Nothing was written.
	ErrConflict = errors.New("sessions: version conflict")
	// ErrReplaced: the key was regenerated away less than Delta.Tombstone
	// ago (its tombstone is live). Load and Apply return it instead of
	// ErrNotFound for such a key, and Apply writes nothing. The new key is
	// never revealed. Once the tombstone lapses the key is ErrNotFound.
	ErrReplaced = errors.New("sessions: session replaced by regenerate")
)

// Record is one session as a Store keeps it.
//
// Attrs holds the session's top-level attributes, each a JSON value as raw
// bytes (a Store copies them in and out verbatim and never parses them).
// Version is 1 after Create and grows by one with every Apply or Regenerate.
// A record is live while the store clock is before both IdleExp and AbsExp.
//
// Handle, ClientIP and UserAgent describe the session for operators (the
// admin API lists them; they never reach the app). A store keeps them as
// given by Create (Regenerate sets Handle from Delta.Handle and carries the
// other two over) and returns them from Load and Regenerate; records
// written before they existed have them empty.
type Record struct {
	Attrs     map[string]json.RawMessage
	Principal string
	Version   int64
	Created   time.Time
	IdleExp   time.Time
	AbsExp    time.Time
	// Handle is the session's public handle (Token.SID of its token),
	// under which Inventory.ByHandle finds it; "" indexes nothing.
	Handle string
	// ClientIP is the address of the client that created the session,
	// as the proxy worked it out (at most MaxClientIPBytes).
	ClientIP string
	// UserAgent is that client's User-Agent, cleaned by CleanUserAgent
	// (valid UTF-8, at most MaxUserAgentBytes).
	UserAgent string
}

// Expiry is when a store may forget the record: the earlier of IdleExp and
// AbsExp.
func (r *Record) Expiry() time.Time {
	if r.AbsExp.Before(r.IdleExp) {
		return r.AbsExp
	}
	return r.IdleExp
}

// Live reports whether the record has not expired at now.
func (r *Record) Live(now time.Time) bool {
	return now.Before(r.IdleExp) && now.Before(r.AbsExp)
}

// Size is what counts against max_bytes: the sum over attributes of the
// length of the name plus the length of the raw JSON value.
func (r *Record) Size() int { return attrsSize(r.Attrs) }

// attrsSize is Record.Size for a bare attribute map.
func attrsSize(attrs map[string]json.RawMessage) int {
	n := 0
	for k, v := range attrs {
		n += len(k) + len(v)
	}
	return n
}

// Delta is one write to a session, applied by a Store as a single atomic
// step. Attributes not named in Set or Delete are left as they are, so
// concurrent writers of distinct attributes never lose each other's writes.
type Delta struct {
	// Set replaces (or adds) these attributes.
	Set map[string]json.RawMessage
	// Delete removes these attributes; names that are absent are ignored.
	Delete []string
	// Principal, when non-nil, replaces the principal ("" clears it) and
	// updates the principal index.
	Principal *string
	// IdleExp, when non-zero, becomes the new idle expiry (a store caps the
	// effective expiry at AbsExp).
	IdleExp time.Time
	// MaxBytes, when positive, is the largest Size the session may have after
	// the write; a write past it fails with ErrTooLarge and changes nothing.
	MaxBytes int
	// BaseVersion, when positive, makes the write conditional: it fails with
	// ErrConflict and changes nothing unless the stored Version equals it.
	BaseVersion int64
	// Tombstone, for Regenerate only: when positive, the old key is left as
	// a tombstone for this long (by the store clock), during which Load and
	// Apply on it return ErrReplaced; zero leaves nothing (ErrNotFound, as
	// for a deleted key). A tombstone holds no session data, is never
	// listed by ByPrincipal, and is removed by Delete; Create may replace
	// it as it replaces an expired record.
	Tombstone time.Duration
	// Handle, for Regenerate only: the public handle of newKey (Token.SID
	// of the new token), which becomes the new record's Handle; the old
	// record's handle no longer finds anything. "" leaves the new record
	// without one.
	Handle string
}

// ApplyTo applies d.Set then d.Delete to attrs in place, as every Store
// must. It does not check MaxBytes or BaseVersion.
func (d *Delta) ApplyTo(attrs map[string]json.RawMessage) {
	for k, v := range d.Set {
		attrs[k] = v
	}
	for _, k := range d.Delete {
		delete(attrs, k)
	}
}

// Applied returns a new record: rec with d checked and written to it and
// its Version bumped, or ErrConflict (BaseVersion) or ErrTooLarge
// (MaxBytes), as a Store applies a Delta. rec is not changed; the new
// record shares the attribute values it keeps and copies the ones d sets,
// so stored values are never mutated in place. Stores that hold records
// in Go (memory, and Redis for a regenerate's copy) use it.
func (d *Delta) Applied(rec *Record) (*Record, error) {
	if d.BaseVersion > 0 && rec.Version != d.BaseVersion {
		return nil, ErrConflict
	}
	next := *rec
	next.Attrs = maps.Clone(rec.Attrs)
	if next.Attrs == nil {
		next.Attrs = make(map[string]json.RawMessage, len(d.Set))
	}
	for k, v := range d.Set {
		next.Attrs[k] = slices.Clone(v)
	}
	for _, k := range d.Delete {
		delete(next.Attrs, k)
	}
	if d.MaxBytes > 0 && next.Size() > d.MaxBytes {
		return nil, ErrTooLarge
	}
	if d.Principal != nil {
		next.Principal = *d.Principal
	}
	if !d.IdleExp.IsZero() {
		next.IdleExp = d.IdleExp
	}
	next.Version++
	return &next, nil
}

// Regenerated is Applied for Regenerate: the new record also takes
// d.Handle as its handle (the old one names the old token).
func (d *Delta) Regenerated(rec *Record) (*Record, error) {
	next, err := d.Applied(rec)
	if err != nil {
		return nil, err
	}
	next.Handle = d.Handle
	return next, nil
}

// Touch asks Load to slide the idle expiry in the same atomic step as the
// read: if the stored IdleExp is before Before, it becomes IdleExp (and the
// store's own expiry moves with it, capped at AbsExp). The Version does not
// change. The returned Record shows the expiry after the touch.
type Touch struct {
	Before  time.Time
	IdleExp time.Time
}

// freshKey is the context key FreshRead sets.
type freshKey struct{}

// FreshRead returns ctx marked so that a Store's Load reads the stored
// record itself rather than a cached copy, which may lag a write another
// process made a moment ago (stores/redis keeps such a cache). The Manager
// marks the Fetch of a request whose write is conditional on the version
// it loads (Session.GuardVersion: it holds the session's lock), which a
// copy from before the previous holder's write would refuse.
func FreshRead(ctx context.Context) context.Context {
	return context.WithValue(ctx, freshKey{}, true)
}

// IsFreshRead reports whether ctx was marked by FreshRead.
func IsFreshRead(ctx context.Context) bool {
	v, _ := ctx.Value(freshKey{}).(bool)
	return v
}

// Store keeps sessions under opaque keys (the Manager derives them from the
// cookie token with SHA-256; a Store never sees a token).
//
// Every method takes a context and must give up when it is done. Every
// method is safe for concurrent use. Expired records behave exactly as
// absent ones: Load and Apply return ErrNotFound and a store may delete them
// when it sees them. A write never recreates a record that was deleted,
// regenerated away or expired: that check and the write are one atomic step.
// Returned records are the caller's to keep; a Store must not retain or
// mutate maps passed to it or returned by it. Deltas passed in are non-nil.
// Stores may keep times at millisecond precision only; the Manager passes
// millisecond-truncated times so every store round-trips them exactly.
//
// Writes (Create, Apply, Regenerate, Delete) honour the context's deadline
// as a commit deadline: a write either takes effect before the deadline
// passes or never. A write that returns an error wrapping
// context.DeadlineExceeded has changed nothing and cannot change anything
// later, so a caller told "503, retry" may rely on nothing having happened.
// A store checks the deadline as the last step before it commits, inside
// the same atomic step (the lock, the transaction, the Lua script), and
// must make sure a write queued in a stalled backend cannot commit after
// the caller has given up (a remote store passes the deadline along for the
// backend to check on its own clock). The one ambiguity left is a reply
// lost after the commit (the connection drops between the commit and its
// answer): the write took effect, yet the caller sees an error. A write
// without a deadline has no such bound. CheckDeadline is the in-process
// check.
//
// storetest.Run is the conformance suite every implementation must pass.
type Store interface {
	// Load returns the live record under key, or ErrNotFound. When touch is
	// non-nil the idle expiry is slid as Touch describes, in the same step.
	Load(ctx context.Context, key string, touch *Touch) (*Record, error)
	// Create stores rec under a new key and indexes its principal; it
	// returns ErrExists if the key holds a live record. rec.Version is
	// stored as given (the Manager passes 1).
	Create(ctx context.Context, key string, rec *Record) error
	// Apply writes d to the live record under key and returns the new
	// Version. It returns ErrNotFound (writing nothing) if there is no live
	// record, ErrTooLarge or ErrConflict as Delta describes.
	Apply(ctx context.Context, key string, d *Delta) (int64, error)
	// Regenerate moves the live record under oldKey to newKey, applying d
	// on the way and bumping the Version, and returns the new record.
	// Created, AbsExp, ClientIP and UserAgent carry over; the new record's
	// Handle is d.Handle (see Delta.Regenerated), and oldKey's handle
	// finds nothing any more. Once it returns, oldKey is gone: a
	// later Load or Apply on it gets ErrNotFound (ErrReplaced while the
	// tombstone d.Tombstone asks for lasts), and a write to oldKey that
	// raced with it is either included in the new record or refused, never
	// lost silently. Errors as for Apply (checked before oldKey is removed);
	// on a live tombstone under oldKey, ErrReplaced. It never half-writes:
	// on error (the deadline included) oldKey is left exactly as it was and
	// newKey holds no session. It must work where the two keys live on
	// different shards (Redis Cluster), so implementations cannot rely on a
	// cross-key RENAME.
	Regenerate(ctx context.Context, oldKey, newKey string, d *Delta) (*Record, error)
	// Delete removes the record (or lapsed tombstone) under key and its
	// principal and handle index entries. Deleting a missing key is not an error. On a
	// key whose tombstone is live it returns ErrReplaced and keeps the
	// tombstone: a logout that loaded the session before a regenerate moved
	// it must not pass for done (the Manager would expire the cookie, which
	// is by then the browser's new one).
	Delete(ctx context.Context, key string) error
	// ByPrincipal lists the keys of the live records whose principal is p,
	// in no particular order. It may prune stale index entries as it goes.
	ByPrincipal(ctx context.Context, p string) ([]string, error)
}

// CheckDeadline reports whether a write under ctx may still commit: nil
// while ctx is live, else an error wrapping ctx.Err(), or
// context.DeadlineExceeded once the deadline has passed even if ctx's own
// timer has not yet marked it done. In-process stores call it as the last
// step before committing, while they hold their lock or transaction.
func CheckDeadline(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit refused: %w", err)
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return fmt.Errorf("commit refused: %w", context.DeadlineExceeded)
	}
	return nil
}
