package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestTombstoneTTL: session.tombstone_ttl 0 turns tombstones off, which
// sessions.Options spells as a negative TTL (its 0 is the default).
func TestTombstoneTTL(t *testing.T) {
	assert.Negative(t, tombstoneTTL(0))
	assert.Equal(t, 90*time.Second, tombstoneTTL(90*time.Second))
}
