package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/sessions"
)

// The timeouts of the records the suite creates. They are long enough that
// real time never reaches a deadline set from the fake clock while a test
// runs.
const (
	idleTimeout = 30 * time.Minute
	absTimeout  = 8 * time.Hour
)

// env is one subtest's fresh store and the clock it reads. Its methods fail
// the test with require, so call them only from the test's goroutine.
type env struct {
	t     *testing.T
	ctx   context.Context
	clock *clocktest.Clock
	store sessions.Store
}

// env builds a fresh store for the subtest t.
func (s *suite) env(t *testing.T) *env {
	t.Helper()
	clock := clocktest.New()
	store := s.newStore(t, clock.Now)
	require.NotNil(t, store, "newStore returned a nil Store")
	return &env{t: t, ctx: t.Context(), clock: clock, store: store}
}

// record returns a new session record as the Manager would create it now:
// Version 1, idle and absolute expiry from the current clock, a fresh
// handle and a client. Its attribute values carry odd spacing and escapes
// so a store that re-encodes JSON instead of copying it verbatim is
// caught.
func (e *env) record(principal string) *sessions.Record {
	now := e.clock.Now()
	return &sessions.Record{
		Attrs: map[string]json.RawMessage{
			"user":  raw(`{"id": 7,  "name":"J\u00f6rg" }`),
			"cart":  raw(`[1,2 ,3]`),
			"flag":  raw(`true`),
			"empty": raw(`""`),
		},
		Principal: principal,
		Version:   1,
		Created:   now,
		IdleExp:   now.Add(idleTimeout),
		AbsExp:    now.Add(absTimeout),
		Handle:    randomHandle(),
		ClientIP:  "2001:db8::7",
		UserAgent: "Mozilla/5.0 (X11; Linux) Grüße ✓",
	}
}

// create stores a copy of rec under a new random key and returns the key.
func (e *env) create(rec *sessions.Record) string {
	e.t.Helper()
	key := randomKey()
	require.NoError(e.t, e.store.Create(e.ctx, key, cloneRecord(rec)), "Create")
	return key
}

// session creates a record with a random principal and returns its key and
// what the store should hold.
func (e *env) session() (string, *sessions.Record) {
	e.t.Helper()
	rec := e.record(randomPrincipal())
	return e.create(rec), rec
}

// load returns the live record under key.
func (e *env) load(key string) *sessions.Record {
	e.t.Helper()
	rec, err := e.store.Load(e.ctx, key, nil)
	require.NoError(e.t, err, "Load")
	require.NotNil(e.t, rec, "Load returned a nil record and no error")
	return rec
}

// apply writes d and returns the new version.
func (e *env) apply(key string, d *sessions.Delta) int64 {
	e.t.Helper()
	v, err := e.store.Apply(e.ctx, key, d)
	require.NoError(e.t, err, "Apply")
	return v
}

// assertGone checks that key holds no live record.
func (e *env) assertGone(key string) {
	e.t.Helper()
	rec, err := e.store.Load(e.ctx, key, nil)
	assert.ErrorIs(e.t, err, sessions.ErrNotFound, "Load of a key that must hold no live record")
	assert.Nil(e.t, rec, "Load returned a record with ErrNotFound")
}

// assertListed checks that ByPrincipal(p) returns exactly keys.
func (e *env) assertListed(p string, keys ...string) {
	e.t.Helper()
	got, err := e.store.ByPrincipal(e.ctx, p)
	require.NoError(e.t, err, "ByPrincipal")
	assert.ElementsMatch(e.t, keys, got, "ByPrincipal(%q)", p)
}

// advanceTo moves the clock forward to t.
func (e *env) advanceTo(t time.Time) {
	e.clock.Advance(t.Sub(e.clock.Now()))
}

// AssertRecord checks that got holds what want holds: attributes byte for
// byte, principal, version, handle, client, and the three times (compared
// with Equal, so location and monotonic readings do not matter). Tests
// that copy sessions between stores (stores/migrate) use it too.
func AssertRecord(t *testing.T, want, got *sessions.Record) {
	t.Helper()
	assertRecord(t, want, got)
}

// assertRecord is AssertRecord.
func assertRecord(t *testing.T, want, got *sessions.Record) {
	t.Helper()
	if !assert.NotNil(t, got, "record") {
		return
	}
	assert.Equal(t, attrStrings(want.Attrs), attrStrings(got.Attrs), "Attrs")
	assert.Equal(t, want.Principal, got.Principal, "Principal")
	assert.Equal(t, want.Version, got.Version, "Version")
	assert.Equal(t, want.Handle, got.Handle, "Handle")
	assert.Equal(t, want.ClientIP, got.ClientIP, "ClientIP")
	assert.Equal(t, want.UserAgent, got.UserAgent, "UserAgent")
	assertTime(t, "Created", want.Created, got.Created)
	assertTime(t, "IdleExp", want.IdleExp, got.IdleExp)
	assertTime(t, "AbsExp", want.AbsExp, got.AbsExp)
}

// assertTime checks that got is the same instant as want.
func assertTime(t *testing.T, name string, want, got time.Time) {
	t.Helper()
	assert.Truef(t, want.Equal(got), "%s: want %v, got %v (off by %v)",
		name, want, got, got.Sub(want))
}

// expect returns what rec becomes after a successful Apply of d: d's
// attributes written, principal and idle expiry replaced when d sets them,
// Version bumped. It does not cap IdleExp at AbsExp.
func expect(rec *sessions.Record, d *sessions.Delta) *sessions.Record {
	next := cloneRecord(rec)
	d.ApplyTo(next.Attrs)
	for k := range d.Set {
		if v, ok := next.Attrs[k]; ok {
			next.Attrs[k] = slices.Clone(v) // not d's bytes, which a test may scribble on
		}
	}
	if d.Principal != nil {
		next.Principal = *d.Principal
	}
	if !d.IdleExp.IsZero() {
		next.IdleExp = d.IdleExp
	}
	next.Version++
	return next
}

// expectMoved is expect for a Regenerate: the new record also takes
// d.Handle as its handle.
func expectMoved(rec *sessions.Record, d *sessions.Delta) *sessions.Record {
	next := expect(rec, d)
	next.Handle = d.Handle
	return next
}

// cloneRecord returns a deep copy of r.
func cloneRecord(r *sessions.Record) *sessions.Record {
	c := *r
	c.Attrs = make(map[string]json.RawMessage, len(r.Attrs))
	for k, v := range r.Attrs {
		c.Attrs[k] = slices.Clone(v)
	}
	return &c
}

// attrStrings turns attributes into strings for readable diffs. Nil and
// empty maps give the same result.
func attrStrings(attrs map[string]json.RawMessage) map[string]string {
	m := make(map[string]string, len(attrs))
	for k, v := range attrs {
		m[k] = string(v)
	}
	return m
}

// raw is a JSON value as a store sees it.
func raw(s string) json.RawMessage { return json.RawMessage(s) }

// ptr returns a pointer to s, for Delta.Principal.
func ptr(s string) *string { return &s }

// randomKey returns a fresh key, hex like the Manager's SHA-256 keys.
func randomKey() string { return randomHex(32) }

// randomHandle returns a fresh handle, like Token.SID: 32 hex digits.
func randomHandle() string { return randomHex(16) }

// randomPrincipal returns a principal no other test uses.
func randomPrincipal() string { return "user-" + randomHex(8) }

// randomHex returns n random bytes in hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}
