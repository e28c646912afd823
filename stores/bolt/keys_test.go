package bolt

import (
	"bytes"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestExpiryStampOrder(t *testing.T) {
	// In time order; equal neighbours are marked.
	times := []time.Time{
		{},
		time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, math.MinInt64+1),
		time.Unix(-1, 0),
		time.Unix(0, -1),
		time.Unix(0, 0),
		time.Unix(0, 1),
		time.Now(),
		time.Now().Add(time.Hour),
		time.Unix(0, math.MaxInt64),
		time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for i := 1; i < len(times); i++ {
		a, b := expiryStamp(times[i-1]), expiryStamp(times[i])
		switch i {
		case 1, 10: // clamped to the ends of the range
			assert.Equal(t, a, b, "%v vs %v", times[i-1], times[i])
		default:
			assert.Negative(t, bytes.Compare(a[:], b[:]), "%v before %v", times[i-1], times[i])
		}
	}
}

func TestExpiredBy(t *testing.T) {
	now := time.Now()
	stamp := expiryStamp(now)
	assert.True(t, expiredBy(expiryKey(now.Add(-time.Nanosecond), "k"), stamp))
	assert.True(t, expiredBy(expiryKey(now, "k"), stamp), "a record is not live at its expiry")
	assert.False(t, expiredBy(expiryKey(now.Add(time.Nanosecond), "k"), stamp))
	assert.False(t, expiredBy([]byte("short"), stamp))
}

func TestPrincipalPrefixesDoNotMix(t *testing.T) {
	keys := [][]byte{
		principalKey("a", "k1"),
		principalKey("ab", "k2"),
		principalKey("a\x00", "k3"),
		principalKey("a", "bk4"),
	}
	sort.Slice(keys, func(i, j int) bool { return bytes.Compare(keys[i], keys[j]) < 0 })
	for _, p := range []string{"a", "ab", "a\x00"} {
		prefix := principalPrefix(p)
		var n int
		for _, k := range keys {
			if bytes.HasPrefix(k, prefix) {
				n++
			}
		}
		want := map[string]int{"a": 2, "ab": 1, "a\x00": 1}[p]
		assert.Equal(t, want, n, "principal %q", p)
	}
}
