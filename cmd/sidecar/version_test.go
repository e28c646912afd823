package main

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadVersion(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/sidecarproxy/sidecar", Version: "v1.3.0-0.20260101000000-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	local := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}
	tests := []struct {
		name              string
		ldVersion, commit string
		bi                *debug.BuildInfo
		want              buildVersion
	}{
		{"linker flags win", "v1.4.0", "feedface", vcs,
			buildVersion{Version: "v1.4.0", Commit: "feedface", Modified: true, Go: "go1.26.8"}},
		{"build information", "", "", vcs,
			buildVersion{Version: "v1.3.0-0.20260101000000-0123456789ab+dirty", Commit: "0123456789abcdef0123456789abcdef01234567", Modified: true, Go: "go1.26.8"}},
		{"local build without VCS", "", "", local,
			buildVersion{Version: "(devel)", Commit: "unknown", Go: "go1.26.8"}},
		{"no build information", "", "", nil,
			buildVersion{Version: "(devel)", Commit: "unknown", Go: runtime.Version()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, readVersion(tt.ldVersion, tt.commit, tt.bi))
		})
	}
}

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
