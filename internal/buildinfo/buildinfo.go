// Package buildinfo says which build of Sidecar is running: its version,
// source revision and Go release, from the values a release build sets
// with the linker's -X flag, or else from the build information the go
// command records in the binary (debug.ReadBuildInfo). `sidecar version`
// prints it.
//
// The -X variables themselves stay in package main (-X can set only a
// package-level string variable, and release builds name main.version and
// main.commit); this package holds no state.
package buildinfo

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Info is what `sidecar version` prints.
type Info struct {
	Version  string // "v1.4.0", the module version, or "(devel)"
	Commit   string // the source revision, or "unknown"
	Modified bool   // built from a working tree with uncommitted changes
	Go       string // the Go release that built the binary, e.g. "go1.26.8"
}

// Read is FromBuildInfo with the running binary's build information.
func Read(ldVersion, ldCommit string) Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return FromBuildInfo(ldVersion, ldCommit, bi)
}

// FromBuildInfo combines the linker-set values (ldVersion, ldCommit: win
// when set) with the build information bi (nil when the binary has none):
// its module version, unless a local build's "(devel)", and its
// vcs.revision and vcs.modified settings.
func FromBuildInfo(ldVersion, ldCommit string, bi *debug.BuildInfo) Info {
	v := Info{Version: ldVersion, Commit: ldCommit, Go: runtime.Version()}
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

// Write prints v as "key: value" lines, for people and for grep, with the
// platform after the Go release.
func (v Info) Write(w io.Writer) {
	modified := ""
	if v.Modified {
		modified = " (modified: built with uncommitted changes)"
	}
	fmt.Fprintf(w, "version: %s\ncommit: %s%s\ngo: %s %s/%s\n",
		v.Version, v.Commit, modified, v.Go, runtime.GOOS, runtime.GOARCH)
}
