package main

import (
	"fmt"
	"io"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/ops"
)

// runHealth is `sidecar health` (ops.HealthCommand), finding ops.listen
// in the file and SIDECAR_OPS__LISTEN only. environ is os.Environ() in
// production.
func runHealth(args []string, stdout, stderr io.Writer, environ []string) int {
	return ops.HealthCommand(args, stdout, stderr, func(path string) (string, string, error) {
		o, err := config.LoadOps(path, environ)
		if err != nil || o.Enabled() {
			return o.Listen, "", err
		}
		var needs []string // ops.needed_by names the prober, else it is us
		if len(o.NeededBy) == 0 {
			needs = []string{"sidecar health"}
		}
		return "", fmt.Sprintf("%s (in %s or %s)", config.Config{Ops: o}.OpsWarning(needs...), path, config.EnvName("ops.listen")), nil
	})
}
