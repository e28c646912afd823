package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersionCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 0, run([]string{"version"}, &out, &errOut))
	assert.Empty(t, errOut.String())
	assert.Regexp(t, `^version: \S+\ncommit: \S+.*\ngo: `+runtime.Version()+` `+runtime.GOOS+`/`+runtime.GOARCH+`\n$`, out.String())

	out.Reset()
	assert.Equal(t, 2, run([]string{"version", "--json"}, &out, &errOut))
	assert.Empty(t, out.String())
}

// TestVersionFromLinkerFlags builds the binary as a release build does, with
// -X main.version and -X main.commit, and runs `sidecar version`: the
// variables' names are what release builds depend on.
func TestVersionFromLinkerFlags(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "sidecar")
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X main.version=v9.8.7 -X main.commit=0123456789abcdef", ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	out, err = exec.Command(bin, "version").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Regexp(t, `^version: v9\.8\.7\ncommit: 0123456789abcdef\S*.*\ngo: go1\.`, string(out))
}
