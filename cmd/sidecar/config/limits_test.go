package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/proxy"
)

func TestValidateLimits(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Config)
		wantMsg string // the whole error text, "key: message"
	}{
		{"head limit too small", func(c *Config) { c.Limits.MaxHeaderBytes = 1000 }, "limits.max_header_bytes: must be at least 1024 (got 1000)"},
		{"negative body limit", func(c *Config) { c.Limits.MaxBodyBytes = -1 }, "limits.max_body_bytes: must not be negative (got -1; 0 means no limit)"},
		{"no read timeout", func(c *Config) { c.Limits.BodyReadTimeout = 0 }, "limits.body_read_timeout: must be greater than 0 (got 0s)"},
		{"negative rate", func(c *Config) { c.Limits.MinUploadRate = -5 }, "limits.min_upload_rate: must not be negative (got -5; 0 means no minimum)"},
		{"negative grace", func(c *Config) { c.Limits.MinUploadGrace = -1 }, "limits.min_upload_grace: must not be negative (got -1ns)"},
		{"negative memory", func(c *Config) { c.Limits.Buffer.MemoryBytes = -1 }, "limits.buffer.memory_bytes: must not be negative (got -1)"},
		{"negative disk", func(c *Config) { c.Limits.Buffer.DiskBytes = -1 }, "limits.buffer.disk_bytes: must not be negative (got -1)"},
		{"file over the disk budget", func(c *Config) { c.Limits.Buffer.DiskBytes = 1 << 20 },
			"limits.buffer.max_file_bytes: must be at most limits.buffer.disk_bytes (1048576), got 134217728: a larger file could never be written"},
		{"no temp dir", func(c *Config) { c.Limits.Buffer.TempDir = "" },
			"limits.buffer.temp_dir: must not be empty while temporary files are on (disk_bytes and max_file_bytes)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.mutate(&c)
			err := c.Validate()
			require.Error(t, err)
			assert.Equal(t, tt.wantMsg, err.Error())
			var ke *KeyError
			assert.True(t, errors.As(err, &ke))
		})
	}

	t.Run("temp dir only matters with temporary files", func(t *testing.T) {
		c := validConfig()
		c.Limits.Buffer.TempDir, c.Limits.Buffer.MaxFileBytes = "", 0
		assert.NoError(t, c.Validate())
	})
}

func TestLoadLimitsFromEnvironment(t *testing.T) {
	c, err := Load("", []string{
		"SIDECAR_UPSTREAMS=app1=http://127.0.0.1:8081",
		"SIDECAR_SESSION__SECRETS=" + testCookieSecret,
		"SIDECAR_HEADERS__SECRET=" + testHeaderSecret,
		"SIDECAR_LIMITS__MAX_BODY_BYTES=10485760",
		"SIDECAR_LIMITS__BUFFER__MEMORY_BYTES=1048576",
		"SIDECAR_LIMITS__BUFFER__TEMP_DIR=/var/tmp",
		"SIDECAR_LIMITS__MIN_UPLOAD_GRACE=2s",
	})
	require.NoError(t, err)
	assert.Equal(t, int64(10<<20), c.Limits.MaxBodyBytes)
	assert.Equal(t, int64(1<<20), c.Limits.Buffer.MemoryBytes)
	assert.Equal(t, "/var/tmp", c.Limits.Buffer.TempDir)
	assert.Equal(t, "2s", c.Limits.MinUploadGrace.String())
}

func TestWarningsHeadLimit(t *testing.T) {
	c := Default()
	assert.Empty(t, c.Warnings(), "3584 + 4096 + 512 is 8192")
	c.Limits.MaxHeaderBytes = 8192
	w := c.Warnings()
	require.Len(t, w, 1)
	assert.True(t, strings.HasPrefix(w[0], "limits.max_header_bytes (8192) + headers.max_bytes (4096) + about 512 bytes of Sidecar's other headers is 12800 bytes"), w[0])
	assert.Contains(t, w[0], "Lower limits.max_header_bytes to 3584")
	c.Limits.MaxHeaderBytes, c.Headers.MaxBytes, c.Session.MaxBytes = 5632, 2048, 900
	assert.Empty(t, c.Warnings(), "a smaller session header leaves the client more")
	c.Limits.MaxHeaderBytes, c.Headers.MaxBytes = 8192, 8192
	assert.Empty(t, c.Warnings(), "a raised headers.max_bytes says the app server takes more")
}

// TestLimitsOptions: in the config 0 turns the upload rate, its grace,
// the memory and the temporary files off; the library spells off as a
// negative value (its 0 is the default).
func TestLimitsOptions(t *testing.T) {
	c := Default().Limits
	assert.Equal(t, proxy.Limits{
		MaxHeaderBytes:  proxy.DefaultMaxHeaderBytes,
		BodyReadTimeout: proxy.DefaultBodyReadTimeout,
		MinUploadRate:   proxy.DefaultMinUploadRate,
		MinUploadGrace:  proxy.DefaultMinUploadGrace,
		Buffer: proxy.BufferOptions{MemoryBytes: proxy.DefaultBufferMemoryBytes, DiskBytes: proxy.DefaultBufferDiskBytes,
			MaxFileBytes: proxy.DefaultBufferMaxFileBytes, TempDir: c.Buffer.TempDir},
	}, c.Options())

	c.MinUploadRate, c.MinUploadGrace, c.Buffer.MemoryBytes, c.Buffer.DiskBytes, c.Buffer.MaxFileBytes = 0, 0, 0, 0, 0
	c.BodyReadTimeout = time.Second
	l := c.Options()
	assert.Negative(t, l.MinUploadRate)
	assert.Negative(t, l.MinUploadGrace)
	assert.Negative(t, l.Buffer.MemoryBytes)
	assert.Negative(t, l.Buffer.DiskBytes)
	assert.Negative(t, l.Buffer.MaxFileBytes)
	assert.Equal(t, time.Second, l.BodyReadTimeout)
}
