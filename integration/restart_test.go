package integration

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

// TestBoltSessionSurvivesRestart: with the embedded store, stopping
// Sidecar and starting it again on the same file logs nobody out.
func TestBoltSessionSurvivesRestart(t *testing.T) {
	app := newApp(t, "app")
	c := baseConfig(app.URL)
	c.Store.Type = config.StoreBolt
	c.Store.Bolt.Path = filepath.Join(t.TempDir(), "sidecar.db")

	first, base := startSidecar(t, c)
	cl := &client{t: t}
	cl.get(base, "/login?user=ann", nil)
	cl.get(base, "/set?k=cart&v=[1,2,3]", nil)
	require.NotEmpty(t, cl.cookie)
	require.NoError(t, first.Shutdown(context.Background()))

	_, base = startSidecar(t, c)
	_, v := cl.get(base, "/whoami", nil)
	assert.False(t, v.New, "the session outlived the restart")
	assert.Equal(t, "ann", v.Subject)
	assert.Equal(t, map[string]any{"user": "ann", "cart": []any{1.0, 2.0, 3.0}}, v.Data)
}
