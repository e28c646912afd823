package app

import (
	"io"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

func TestCheckRefusesAMissingTempDir(t *testing.T) {
	c := config.Default()
	c.Store.Type = config.StoreMemory
	c.Upstreams = []config.Upstream{{Name: "app1", URL: "http://127.0.0.1:8081", Weight: 1}}
	c.Session.Secrets = []config.Secret{"cookie-secret-0123456789abcdefghijklmnop"}
	c.Headers.Secret = "header-secret-0123456789abcdefghijklmnop"
	c.Limits.Buffer.TempDir = filepath.Join(t.TempDir(), "missing")
	m, err := New(&c, io.Discard)
	require.NoError(t, err)
	err = m.Check(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "limits.buffer.temp_dir")

	c.Limits.Buffer.MaxFileBytes = 0 // no temporary files: no directory needed
	m, err = New(&c, io.Discard)
	require.NoError(t, err)
	assert.NoError(t, m.Check(t.Context()))
}
