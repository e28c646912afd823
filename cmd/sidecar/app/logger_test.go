package app

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/proxy"
)

// TestLoggerFromConfig: log.level and log.format reach the logger (the
// formats themselves are internal/applog's), JSON at info by default, and
// an unknown level names its key.
func TestLoggerFromConfig(t *testing.T) {
	var out logtest.Buffer
	log, level, err := newLogger(config.Default().Log, &out)
	require.NoError(t, err)
	assert.Equal(t, zerolog.InfoLevel, level.Level())
	log.Info().Str("k", "v").Msg("hello")
	assert.True(t, json.Valid([]byte(out.String())), out.String())

	var console logtest.Buffer
	log, level, err = newLogger(config.LogConfig{Level: config.LogDebug, Format: config.LogConsole}, &console)
	require.NoError(t, err)
	assert.Equal(t, zerolog.DebugLevel, level.Level())
	log.Debug().Msg("hello")
	assert.Contains(t, console.String(), " DBG hello\n")

	_, _, err = newLogger(config.LogConfig{Level: "loud", Format: config.LogJSON}, io.Discard)
	assert.ErrorContains(t, err, "log.level")
}

// testConfig is a valid config on the memory store in front of one
// upstream that answers 200, listening on a free port.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	t.Cleanup(upstream.Close)
	c := config.Default()
	c.Listen = "127.0.0.1:0"
	c.Store.Type = config.StoreMemory
	c.Upstreams = []config.Upstream{{Name: "app1", URL: upstream.URL, Weight: 1}}
	c.Session.Secrets = []config.Secret{"a-cookie-secret-of-at-least-32-bytes"}
	c.Headers.Secret = "a-header-secret-of-at-least-32-bytes"
	require.NoError(t, c.Validate())
	return c
}

// TestReloadMovesTheLogLevel: log.level applies on reload (SIGHUP) to a
// running Main: at warn the access lines of successful requests are gone,
// back at info they return.
func TestReloadMovesTheLogLevel(t *testing.T) {
	c := testConfig(t)
	var out logtest.Buffer
	m, err := New(&c, &out)
	require.NoError(t, err)
	require.NoError(t, m.Run(t.Context()))
	t.Cleanup(func() { _ = m.Shutdown(t.Context()) })

	get := func() {
		t.Helper()
		resp, err := http.Get("http://" + m.Addr() + "/")
		require.NoError(t, err)
		_ = resp.Body.Close()
	}
	accessLines := func() int { return out.Count(`"log":"access"`) }
	get()
	require.Equal(t, 1, accessLines(), out.String())

	next := c
	next.Log.Level = config.LogWarn
	require.NoError(t, m.Reload(&next))
	get()
	assert.Equal(t, 1, accessLines(), "no info line at warn")

	next.Log.Level = config.LogInfo
	require.NoError(t, m.Reload(&next))
	get()
	assert.Equal(t, 2, accessLines())
	assert.Equal(t, 1, strings.Count(out.String(), `"applied":["log.level"]`),
		"the reload to warn logs its info line at warn already: only the one back to info shows")
}

// TestCombinedAccessLogGoesToAccessOut: under log.access combined the
// access lines go to Main.AccessOut, not into the JSON log.
func TestCombinedAccessLogGoesToAccessOut(t *testing.T) {
	c := testConfig(t)
	c.Log.Access = proxy.AccessCombined
	var out, access logtest.Buffer
	m, err := New(&c, &out)
	require.NoError(t, err)
	m.AccessOut = &access
	require.NoError(t, m.Run(t.Context()))
	t.Cleanup(func() { _ = m.Shutdown(t.Context()) })

	resp, err := http.Get("http://" + m.Addr() + "/page?token=secret")
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Regexp(t, `^127\.0\.0\.1 - - \[[^]]+\] "GET /page HTTP/1\.1" 200 - "-" "Go-http-client/1\.1"\n$`, access.String())
	assert.Zero(t, out.Count(`"log":"access"`), out.String())
}
