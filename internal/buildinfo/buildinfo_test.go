package buildinfo

import (
	"bytes"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFromBuildInfo(t *testing.T) {
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
		want              Info
	}{
		{"linker flags win", "v1.4.0", "feedface", vcs,
			Info{Version: "v1.4.0", Commit: "feedface", Modified: true, Go: "go1.26.8"}},
		{"build information", "", "", vcs,
			Info{Version: "v1.3.0-0.20260101000000-0123456789ab+dirty", Commit: "0123456789abcdef0123456789abcdef01234567", Modified: true, Go: "go1.26.8"}},
		{"local build without VCS", "", "", local,
			Info{Version: "(devel)", Commit: "unknown", Go: "go1.26.8"}},
		{"no build information", "", "", nil,
			Info{Version: "(devel)", Commit: "unknown", Go: runtime.Version()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, FromBuildInfo(tt.ldVersion, tt.commit, tt.bi))
		})
	}
}

func TestWrite(t *testing.T) {
	var out bytes.Buffer
	Info{Version: "v1.4.0", Commit: "feedface", Modified: true, Go: "go1.26.8"}.Write(&out)
	assert.Equal(t, "version: v1.4.0\ncommit: feedface (modified: built with uncommitted changes)\ngo: go1.26.8 "+
		runtime.GOOS+"/"+runtime.GOARCH+"\n", out.String())
}
