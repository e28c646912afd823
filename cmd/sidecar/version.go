package main

import (
	"fmt"
	"io"

	"github.com/sidecarproxy/sidecar/internal/buildinfo"
)

// version and commit are the release and the source revision, set by the
// linker when a release is built:
//
//	go build -ldflags "-X main.version=v1.4.0 -X main.commit=$(git rev-parse HEAD)" ./cmd/sidecar
//
// They are the one exception to the rule of no package-level mutable
// variables: -X can set only a package-level string variable. Nothing
// assigns them at run time; when they are empty, `sidecar version` reads
// the build information the go command records (buildinfo.Read).
var version, commit string

// runVersion is `sidecar version`: it takes no arguments.
func runVersion(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "sidecar version: takes no arguments\n")
		return 2
	}
	buildinfo.Read(version, commit).Write(stdout)
	return 0
}
