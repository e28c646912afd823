package app

import (
	"fmt"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/fscheck"
)

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
