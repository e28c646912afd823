package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckReadsErrorPages: `sidecar check` reads proxy.error_pages.dir
// as serve does, and refuses what serve would refuse, naming the key.
func TestCheckReadsErrorPages(t *testing.T) {
	good := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(good, "502.html"), []byte("<p>down</p>"), 0o600))
	big := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(big, "503.html"), []byte(strings.Repeat("x", 65537)), 0o600))
	for name, tc := range map[string]struct {
		dir  string
		want string // "" when valid
	}{
		"pages":            {good, ""},
		"missing dir":      {filepath.Join(good, "nope"), "proxy.error_pages.dir: reading error pages: no such file or directory"},
		"no page":          {t.TempDir(), "proxy.error_pages.dir: "},
		"page over 64 KiB": {big, "proxy.error_pages.dir: error page 503.html: larger than 65536 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := runCheck(t, checkConfig(fmt.Sprintf("store:\n  type: memory\nproxy:\n  error_pages:\n    dir: %q\n", tc.dir)))
			if tc.want == "" {
				assert.Equal(t, 0, code, "stderr: %s", stderr)
				assert.Contains(t, stdout, "is valid")
				return
			}
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr, tc.want)
		})
	}
}
