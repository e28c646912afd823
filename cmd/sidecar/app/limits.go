package app

import (
	"fmt"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/fscheck"
	"github.com/sidecarproxy/sidecar/proxy"
)

// limitsOptions translates limits.* for the proxy. In the config 0 turns
// a minimum, the memory or the temporary files off, where the library
// reads 0 as its default and a negative value as off.
func limitsOptions(c config.LimitsConfig) proxy.Limits {
	off := func(n int64) int64 {
		if n == 0 {
			return -1
		}
		return n
	}
	grace := c.MinUploadGrace
	if grace == 0 {
		grace = -1
	}
	return proxy.Limits{
		MaxHeaderBytes:  c.MaxHeaderBytes,
		MaxBodyBytes:    c.MaxBodyBytes,
		BodyReadTimeout: c.BodyReadTimeout,
		MinUploadRate:   off(c.MinUploadRate),
		MinUploadGrace:  grace,
		Buffer: proxy.BufferOptions{
			MemoryBytes:  off(c.Buffer.MemoryBytes),
			DiskBytes:    off(c.Buffer.DiskBytes),
			MaxFileBytes: off(c.Buffer.MaxFileBytes),
			TempDir:      c.Buffer.TempDir,
		},
	}
}

// checkTempDir checks, when bodies may go to temporary files, that
// limits.buffer.temp_dir is a directory Sidecar can create files in, so
// that check and serve refuse what would otherwise give 503s later.
func checkTempDir(c config.BodyBufferConfig) error {
	if !c.FilesEnabled() {
		return nil
	}
	if err := fscheck.TempFiles(c.TempDir); err != nil {
		return fmt.Errorf("limits.buffer.temp_dir: %w", err)
	}
	return nil
}
