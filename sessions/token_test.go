package sessions

import (
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustSigner(t testing.TB, secrets ...string) *Signer {
	t.Helper()
	bs := make([][]byte, len(secrets))
	for i, s := range secrets {
		bs[i] = []byte(s)
	}
	s, err := NewSigner(bs)
	require.NoError(t, err)
	return s
}

const (
	secretA = "cookie-secret-A-0123456789abcdefghijkl"
	secretB = "cookie-secret-B-0123456789abcdefghijkl"
)

func TestSignerRoundTrip(t *testing.T) {
	s := mustSigner(t, secretA)
	tok, err := NewToken()
	require.NoError(t, err)
	v := s.Sign(tok)
	assert.Len(t, v, CookieLen)
	got, old, err := s.Verify(v)
	require.NoError(t, err)
	assert.False(t, old)
	assert.Equal(t, tok, got)
}

func TestSignerRotation(t *testing.T) {
	oldS := mustSigner(t, secretA)
	rotated := mustSigner(t, secretB, secretA)
	tok, err := NewToken()
	require.NoError(t, err)

	got, old, err := rotated.Verify(oldS.Sign(tok))
	require.NoError(t, err, "a cookie signed by an older secret still verifies")
	assert.True(t, old, "and is flagged for re-issue")
	assert.Equal(t, tok, got)

	_, old, err = rotated.Verify(rotated.Sign(tok))
	require.NoError(t, err)
	assert.False(t, old)

	_, _, err = mustSigner(t, secretB).Verify(oldS.Sign(tok))
	assert.ErrorIs(t, err, ErrBadCookie, "a retired secret no longer verifies")
}

func TestSignerRejects(t *testing.T) {
	s := mustSigner(t, secretA)
	tok, err := NewToken()
	require.NoError(t, err)
	good := s.Sign(tok)
	flip := func(i int) string {
		b := []byte(good)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for name, v := range map[string]string{
		"empty":              "",
		"token only":         good[:43],
		"no dot":             strings.Replace(good, ".", "x", 1),
		"flipped token byte": flip(3),
		"flipped mac byte":   flip(60),
		"truncated":          good[:len(good)-1],
		"extended":           good + "A",
		"padding":            good[:len(good)-1] + "=",
		"non-canonical tail": good[:42] + string(rune(good[42]+1)) + good[43:],
		"newline inside":     good[:10] + "\n" + good[11:],
		"other secret":       mustSigner(t, secretB).Sign(tok),
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := s.Verify(v)
			assert.ErrorIs(t, err, ErrBadCookie)
		})
	}
}

func TestTokenDerivations(t *testing.T) {
	tok, err := NewToken()
	require.NoError(t, err)
	key, sid := tok.Key(), tok.SID()
	assert.Len(t, key, 64)
	assert.Len(t, sid, 32)
	assert.NotContains(t, key, sid, "the public handle is not a part of the store key")
	enc := b64.EncodeToString(tok[:])
	assert.NotContains(t, key, enc)
	assert.NotContains(t, sid, enc)
	other, err := NewToken()
	require.NoError(t, err)
	assert.NotEqual(t, tok, other)
	assert.NotEqual(t, key, other.Key())
}

func TestNewSignerNeedsSecrets(t *testing.T) {
	_, err := NewSigner(nil)
	assert.Error(t, err)
	_, err = NewSigner([][]byte{[]byte("x"), nil})
	assert.Error(t, err)
}

// TestSignerPooledMACs: the MAC states are pooled, so a check allocates
// nothing, and states shared between goroutines never mix secrets or
// tokens.
func TestSignerPooledMACs(t *testing.T) {
	s := mustSigner(t, "new-secret-0123456789abcdefghijklmnop", "old-secret-0123456789abcdefghijklmnop")
	old := mustSigner(t, "old-secret-0123456789abcdefghijklmnop")
	tok, err := NewToken()
	require.NoError(t, err)
	value, oldValue := s.Sign(tok), old.Sign(tok)
	if !raceEnabled {
		assert.Zero(t, testing.AllocsPerRun(100, func() { _, _, _ = s.Verify(value) }), "Verify allocates nothing")
	}

	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				mine, err := NewToken()
				if !assert.NoError(t, err) {
					return
				}
				got, wasOld, err := s.Verify(s.Sign(mine))
				assert.NoError(t, err)
				assert.False(t, wasOld)
				assert.Equal(t, mine, got)
				_, wasOld, err = s.Verify(oldValue)
				assert.NoError(t, err)
				assert.True(t, wasOld, "verified under the older secret")
			}
		}()
	}
	wg.Wait()
}
