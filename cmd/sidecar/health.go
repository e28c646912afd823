package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/ops"
)

const healthUsage = `usage: sidecar health --config FILE | --url URL [--timeout D]

GET the operations listener's /healthz (ops.listen) and exit 0 when it
answers 200, 1 otherwise: the container image's HEALTHCHECK, where there
is no curl.

  --config FILE  find ops.listen in FILE and SIDECAR_OPS__LISTEN; the rest
                 of the file is not read, so an edit or a rotated secret
                 never fails the probe (an unspecified host probes loopback)
  --url URL      probe URL instead: http://host:port[/path] (no path:
                 /healthz; /readyz probes readiness) or host:port
  --timeout D    give up after D (default 5s)

Exit status: 0 healthy, 1 not (the reason on stderr), 2 usage error.
`

// runHealth is `sidecar health`. environ is os.Environ() in production.
func runHealth(args []string, stdout, stderr io.Writer, environ []string) int {
	fs := flag.NewFlagSet("sidecar health", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	path := fs.String("config", "", "")
	rawURL := fs.String("url", "", "")
	timeout := fs.Duration("timeout", 5*time.Second, "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || (*path == "") == (*rawURL == "") || *timeout <= 0 {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, healthUsage)
			return 0
		}
		fmt.Fprintf(stderr, "sidecar health: give --config FILE or --url URL, and a positive --timeout\n\n%s", healthUsage)
		return 2
	}
	addr := *rawURL
	if *path != "" {
		o, err := config.LoadOps(*path, environ)
		if err != nil {
			fmt.Fprintf(stderr, "sidecar health: %v\n", err)
			return 1
		}
		if !o.Enabled() {
			var needs []string // ops.needed_by names the prober, else it is us
			if len(o.NeededBy) == 0 {
				needs = []string{"sidecar health"}
			}
			fmt.Fprintf(stderr, "sidecar health: %s (in %s or %s)\n",
				config.Config{Ops: o}.OpsWarning(needs...), *path, config.EnvName("ops.listen"))
			return 1
		}
		addr = o.Listen
	}
	u, err := ops.ProbeURL(addr)
	if err != nil {
		fmt.Fprintf(stderr, "sidecar health: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := ops.Probe(ctx, u); err != nil {
		fmt.Fprintf(stderr, "sidecar health: unhealthy: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "healthy: GET %s answered 200\n", u)
	return 0
}
