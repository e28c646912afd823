package logbridge

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/sidecarproxy/sidecar/internal/applog"
)

// TestZapLoggerWritesToZerolog: certmagic's zap lines come out as the
// program's JSON lines, with their fields, at the level the filter allows,
// which a reload moves.
func TestZapLoggerWritesToZerolog(t *testing.T) {
	var out bytes.Buffer
	log, level := applog.New(&out, applog.Options{Level: zerolog.InfoLevel})
	zl := NewZap(log.With().Str("log", "acme").Logger(), level).Named("obtain").With(zap.String("identifier", "app.test"))

	zl.Debug("not at info")
	zl.Info("certificate obtained", zap.Int("attempt", 2))
	zl.Error("could not get certificate", zap.Error(errors.New("dial tcp: refused")))
	level.SetLevel(zerolog.DebugLevel)
	zl.Debug("now at debug")

	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &m), l)
		lines = append(lines, m)
	}
	require.Len(t, lines, 3, out.String())
	for _, l := range lines {
		assert.Equal(t, "acme", l["log"])
		assert.Equal(t, "obtain", l["logger"])
		assert.Equal(t, "app.test", l["identifier"])
	}
	assert.Equal(t, "info", lines[0]["level"])
	assert.Equal(t, "certificate obtained", lines[0]["message"])
	assert.EqualValues(t, 2, lines[0]["attempt"])
	assert.Equal(t, "error", lines[1]["level"])
	assert.Equal(t, "dial tcp: refused", lines[1]["error"])
	assert.Equal(t, "debug", lines[2]["level"])
}
