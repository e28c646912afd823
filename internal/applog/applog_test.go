package applog

import (
	"encoding/json"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/logtest"
)

func TestFormats(t *testing.T) {
	t.Run("json", func(t *testing.T) {
		var out logtest.Buffer
		log, _ := New(&out, Options{Level: zerolog.InfoLevel})
		log.Info().Str("k", "v").Msg("hello")
		log.Debug().Msg("below info")
		var e map[string]any
		require.NoError(t, json.Unmarshal([]byte(out.String()), &e), out.String())
		assert.Equal(t, "info", e["level"])
		assert.Equal(t, "hello", e["message"])
		assert.Equal(t, "v", e["k"])
		assert.NotEmpty(t, e["time"])
	})
	t.Run("console for people", func(t *testing.T) {
		var out logtest.Buffer
		log, _ := New(&out, Options{Level: zerolog.DebugLevel, Console: true})
		log.Debug().Str("k", "v").Msg("hello")
		assert.Contains(t, out.String(), " DBG hello k=v\n", "no colour codes outside a terminal")
		assert.False(t, json.Valid([]byte(out.String())))
	})
}

// TestSetLevelMovesEveryCopy: a copy of the logger taken before the move
// (as every component holds one) follows the filter's new level.
func TestSetLevelMovesEveryCopy(t *testing.T) {
	var out logtest.Buffer
	log, f := New(&out, Options{Level: zerolog.WarnLevel})
	child := log.With().Str("log", "pool").Logger()
	assert.Equal(t, zerolog.WarnLevel, f.Level())

	child.Info().Msg("one")
	f.SetLevel(zerolog.InfoLevel)
	child.Info().Msg("two")
	f.SetLevel(zerolog.ErrorLevel)
	child.Warn().Msg("three")
	child.Error().Msg("four")

	assert.Zero(t, out.Count(`"message":"one"`))
	assert.Equal(t, 1, out.Count(`"message":"two"`))
	assert.Zero(t, out.Count(`"message":"three"`))
	assert.Equal(t, 1, out.Count(`"message":"four"`))
}
