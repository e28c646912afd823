package sessions

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// requestID is as long as a request id may be (a trusted proxy's), which
// HeaderSigner.Len assumes.
const requestID = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// bigSession is a live session holding n bytes (Record.Size) in one
// attribute, with the given principal.
func bigSession(t *testing.T, now time.Time, n int, principal string) *Session {
	t.Helper()
	tok, err := NewToken()
	require.NoError(t, err)
	return &Session{token: tok, verified: true, rec: &Record{
		Attrs:     map[string]json.RawMessage{"a": json.RawMessage(`"` + strings.Repeat("x", n-3) + `"`)},
		Principal: principal, Version: 12, Created: now, IdleExp: now.Add(time.Hour), AbsExp: now.Add(2 * time.Hour),
	}}
}

func TestHeaderLenIsExact(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	h, err := NewHeaderSigner(HeaderOptions{Secret: []byte(headerSecret), Issuer: `e"dge`, Clock: func() time.Time { return now }})
	require.NoError(t, err)
	anon, err := h.Sign(&Session{}, requestID)
	require.NoError(t, err)
	assert.Equal(t, len(anon), h.Len(nil))
	for _, n := range []int{3, 100, 1000, 2048} {
		s := bigSession(t, now, n, "ann \"é\" <x>")
		tok, err := h.Sign(s, requestID)
		require.NoError(t, err)
		assert.Equal(t, len(tok), h.Len(s.Record()), "session of %d bytes", n)
	}
	one := bigSession(t, now, 2048, "")
	one.rec.Version = 1
	assert.Equal(t, len(mustSign(t, h, one)), h.SessionHeaderLen(2048))
}

func mustSign(t *testing.T, h *HeaderSigner, s *Session) string {
	t.Helper()
	tok, err := h.Sign(s, requestID)
	require.NoError(t, err)
	return tok
}

// TestDefaultBudgetFitsDefaultSession pins the arithmetic the README
// documents: a session at the default max_bytes, with a principal of the
// longest allowed length and 50 attributes, fits the default budget.
func TestDefaultBudgetFitsDefaultSession(t *testing.T) {
	h, err := NewHeaderSigner(HeaderOptions{Secret: []byte(headerSecret)})
	require.NoError(t, err)
	require.Equal(t, DefaultHeaderMaxBytes, h.MaxBytes())
	now := time.Now()
	rec := &Record{Attrs: map[string]json.RawMessage{}, Principal: strings.Repeat("p", MaxPrincipalBytes),
		Version: 1 << 40, Created: now, IdleExp: now, AbsExp: now}
	size := 0
	for i := range 50 {
		k := string(rune('A'+i/26)) + string(rune('a'+i%26))
		v := `"` + strings.Repeat("v", DefaultMaxBytes/50-4) + `"`
		rec.Attrs[k] = json.RawMessage(v)
		size += len(k) + len(v)
	}
	require.LessOrEqual(t, size, DefaultMaxBytes)
	assert.LessOrEqual(t, h.Len(rec), DefaultHeaderMaxBytes)
	assert.LessOrEqual(t, h.SessionHeaderLen(DefaultMaxBytes), DefaultHeaderMaxBytes)
	assert.Greater(t, h.SessionHeaderLen(8192), DefaultHeaderMaxBytes, "the old default did not fit")
	n := h.LargestSession()
	assert.LessOrEqual(t, h.SessionHeaderLen(n), DefaultHeaderMaxBytes)
	assert.Greater(t, h.SessionHeaderLen(n+1), DefaultHeaderMaxBytes)
	t.Logf("default budget %d: largest one-attribute session %d bytes; default max_bytes %d gives %d", DefaultHeaderMaxBytes, n, DefaultMaxBytes, h.SessionHeaderLen(DefaultMaxBytes))
}

func TestHeaderOverBudgetOmitsData(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	h, err := NewHeaderSigner(HeaderOptions{Secret: []byte(headerSecret), MaxBytes: 2000, Clock: clock})
	require.NoError(t, err)

	t.Run("at the budget: whole", func(t *testing.T) {
		n := 3
		for h.Len(bigSession(t, now, n+1, "").Record()) <= 2000 {
			n++
		}
		tok, omitted, err := h.SignFit(bigSession(t, now, n, ""), requestID)
		require.NoError(t, err)
		assert.False(t, omitted)
		assert.GreaterOrEqual(t, len(tok), 1998, "base64 lengths skip one value in four")
		assert.LessOrEqual(t, len(tok), 2000)
		c, err := h.ParseHeader(tok)
		require.NoError(t, err)
		assert.False(t, c.DataOmitted)
		assert.Len(t, string(c.Data), n+5) // {"a":VALUE} where n counts a and VALUE
		assert.Zero(t, h.DataOmitted())

		tok, omitted, err = h.SignFit(bigSession(t, now, n+1, ""), requestID)
		require.NoError(t, err)
		assert.True(t, omitted, "one byte over")
		assert.Less(t, len(tok), 2000)
		assert.Equal(t, uint64(1), h.DataOmitted())
	})
	t.Run("data left out, principal kept", func(t *testing.T) {
		before := h.DataOmitted()
		s := bigSession(t, now, 5000, "ann")
		tok, err := h.Sign(s, requestID)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(tok), 2000)
		c, err := h.ParseHeader(tok)
		require.NoError(t, err)
		assert.True(t, c.DataOmitted)
		assert.Nil(t, c.Data, "no data claim at all, never a misleading {}")
		assert.Equal(t, "ann", c.Subject)
		assert.False(t, c.SubjectOmitted)
		assert.Equal(t, s.SID(), c.SID)
		assert.False(t, c.New)
		assert.Equal(t, int64(12), c.Version)
		assert.Equal(t, before+1, h.DataOmitted())
	})
	t.Run("principal too", func(t *testing.T) {
		tok, err := h.Sign(bigSession(t, now, 10, strings.Repeat("p", 3000)), requestID)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(tok), 2000)
		c, err := h.ParseHeader(tok)
		require.NoError(t, err)
		assert.True(t, c.DataOmitted)
		assert.True(t, c.SubjectOmitted)
		assert.Empty(t, c.Subject)
	})
	t.Run("no budget", func(t *testing.T) {
		free, err := NewHeaderSigner(HeaderOptions{Secret: []byte(headerSecret), MaxBytes: -1, Clock: clock})
		require.NoError(t, err)
		assert.Zero(t, free.MaxBytes())
		tok, omitted, err := free.SignFit(bigSession(t, now, 20000, ""), requestID)
		require.NoError(t, err)
		assert.False(t, omitted)
		assert.Greater(t, len(tok), 20000)
	})
}

func TestRequestIDPlaceholderIsTheLongestID(t *testing.T) {
	assert.Len(t, requestIDPlaceholder, MaxRequestIDLen)
}
