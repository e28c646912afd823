package handover

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheckPath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	sock := filepath.Join(dir, "live.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	defer ln.Close()

	for name, tc := range map[string]struct {
		path string
		ok   bool
	}{
		"new path in an existing directory": {filepath.Join(dir, "h.sock"), true},
		"an existing socket":                {sock, true},
		"missing directory":                 {filepath.Join(dir, "nope", "h.sock"), false},
		"directory is a file":               {filepath.Join(file, "h.sock"), false},
		"a regular file at the path":        {file, false},
	} {
		t.Run(name, func(t *testing.T) {
			err := CheckPath(tc.path)
			if tc.ok {
				assert.NoError(t, err)
				return
			}
			assert.Error(t, err)
			// Serve refuses the same path.
			tcp, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer tcp.Close()
			stop, serr := Serve(tc.path, map[string]net.Listener{"http": tcp}, func() {}, func() {}, hoLog(t))
			if serr == nil {
				_ = stop()
			}
			assert.Error(t, serr, "Serve accepted a path CheckPath refused")
		})
	}
}
