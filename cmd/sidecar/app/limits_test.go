package app

import (
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/proxy"
)

// TestLimitsOptions: in the config 0 turns the upload rate, its grace,
// the memory and the temporary files off; the library spells off as a
// negative value (its 0 is the default).
func TestLimitsOptions(t *testing.T) {
	c := config.Default().Limits
	assert.Equal(t, proxy.Limits{
		MaxHeaderBytes:  proxy.DefaultMaxHeaderBytes,
		BodyReadTimeout: proxy.DefaultBodyReadTimeout,
		MinUploadRate:   proxy.DefaultMinUploadRate,
		MinUploadGrace:  proxy.DefaultMinUploadGrace,
		Buffer: proxy.BufferOptions{MemoryBytes: proxy.DefaultBufferMemoryBytes, DiskBytes: proxy.DefaultBufferDiskBytes,
			MaxFileBytes: proxy.DefaultBufferMaxFileBytes, TempDir: c.Buffer.TempDir},
	}, limitsOptions(c))

	c.MinUploadRate, c.MinUploadGrace, c.Buffer.MemoryBytes, c.Buffer.DiskBytes, c.Buffer.MaxFileBytes = 0, 0, 0, 0, 0
	c.BodyReadTimeout = time.Second
	l := limitsOptions(c)
	assert.Negative(t, l.MinUploadRate)
	assert.Negative(t, l.MinUploadGrace)
	assert.Negative(t, l.Buffer.MemoryBytes)
	assert.Negative(t, l.Buffer.DiskBytes)
	assert.Negative(t, l.Buffer.MaxFileBytes)
	assert.Equal(t, time.Second, l.BodyReadTimeout)
}

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
