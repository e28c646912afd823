package keygen

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestNewSetIsFresh: each secret is Bytes random bytes in base64url, with
// no character that needs quoting, and no two are equal, within a Set or
// across Sets.
func TestNewSetIsFresh(t *testing.T) {
	seen := map[string]bool{}
	for range 3 {
		s := NewSet()
		for _, v := range []string{s.Cookie, s.Header, s.Admin, s.LockService} {
			b, err := base64.RawURLEncoding.DecodeString(v)
			if assert.NoError(t, err, "%q is base64url", v) {
				assert.Len(t, b, Bytes)
			}
			assert.Len(t, v, 43)
			assert.NotContains(t, v, ",")
			assert.False(t, seen[v], "secrets differ")
			seen[v] = true
		}
	}
}
