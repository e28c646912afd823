package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version and commit are the release and the source revision, set by the
// linker when a release is built:
//
//	go build -ldflags "-X main.version=v1.4.0 -X main.commit=$(git rev-parse HEAD)" ./cmd/sidecar
//
// They are the one exception to the rule of no package-level mutable
// variables: -X can set only a package-level string variable. Nothing
// assigns them at run time; when they are empty, `sidecar version` reads
// the build information the go command records (debug.ReadBuildInfo).
var version, commit string

// buildVersion is what `sidecar version` prints.
type buildVersion struct {
	Version  string // "v1.4.0", the module version, or "(devel)"
	Commit   string // the source revision, or "unknown"
	Modified bool   // built from a working tree with uncommitted changes
	Go       string // the Go release that built the binary, e.g. "go1.26.8"
}

// readVersion combines the linker-set values (ldVersion, ldCommit: win
// when set) with the build information bi (nil when the binary has none):
// its module version, unless a local build's "(devel)", and its
// vcs.revision and vcs.modified settings.
func readVersion(ldVersion, ldCommit string, bi *debug.BuildInfo) buildVersion {
	v := buildVersion{Version: ldVersion, Commit: ldCommit, Go: runtime.Version()}
	if bi != nil {
		if v.Version == "" && bi.Main.Version != "" {
			v.Version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			v.Go = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if v.Commit == "" {
					v.Commit = s.Value
				}
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if v.Version == "" {
		v.Version = "(devel)"
	}
	if v.Commit == "" {
		v.Commit = "unknown"
	}
	return v
}

// write prints v as "key: value" lines, for people and for grep.
func (v buildVersion) write(w io.Writer) {
	modified := ""
	if v.Modified {
		modified = " (modified: built with uncommitted changes)"
	}
	fmt.Fprintf(w, "version: %s\ncommit: %s%s\ngo: %s %s/%s\n",
		v.Version, v.Commit, modified, v.Go, runtime.GOOS, runtime.GOARCH)
}

// runVersion is `sidecar version`: it takes no arguments.
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "sidecar version: takes no arguments\n")
		return 2
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	readVersion(version, commit, bi).write(stdout)
	return 0
}
