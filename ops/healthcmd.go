package ops

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"
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

// HealthConfig finds the ops listener's address in a config file for
// HealthCommand: listen is ops.listen, or "" with off saying why the
// listener is off and where to turn it on.
type HealthConfig func(path string) (listen, off string, err error)

// HealthCommand is `sidecar health`: it parses args, finds the address
// (--url, or --config through fromConfig), probes it and returns the exit
// status: 0 healthy, 1 not (the reason on stderr), 2 usage error.
func HealthCommand(args []string, stdout, stderr io.Writer, fromConfig HealthConfig) int {
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
		listen, off, err := fromConfig(*path)
		if err != nil {
			fmt.Fprintf(stderr, "sidecar health: %v\n", err)
			return 1
		}
		if listen == "" {
			fmt.Fprintf(stderr, "sidecar health: %s\n", off)
			return 1
		}
		addr = listen
	}
	u, err := ProbeURL(addr)
	if err != nil {
		fmt.Fprintf(stderr, "sidecar health: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := Probe(ctx, u); err != nil {
		fmt.Fprintf(stderr, "sidecar health: unhealthy: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "healthy: GET %s answered 200\n", u)
	return 0
}
