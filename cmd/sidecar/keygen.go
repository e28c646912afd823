package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/internal/keygen"
)

// runKeygen is `sidecar keygen [--format yaml|env|raw]`: one fresh set of
// secrets (keygen.NewSet), as config keys, as SIDECAR_ variables, or the
// cookie secret alone; or, with --algorithm, a key for headers.key_files.
func runKeygen(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "yaml", "yaml: config keys; env: SIDECAR_ variables; raw: one secret alone, e.g. for a *_file")
	alg := fs.String("algorithm", "", "EdDSA or ES256: write a PKCS#8 PEM private key for headers.key_files instead")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sidecar keygen: takes no arguments, only --format yaml|env|raw or --algorithm EdDSA|ES256\n")
		return 2
	}
	if *alg != "" {
		if err := keygen.WriteKey(*alg, stdout, stderr); err != nil {
			fmt.Fprintf(stderr, "sidecar keygen: %v\n", err)
			return 2
		}
		return 0
	}
	s := keygen.NewSet()
	switch *format {
	case "yaml":
		fmt.Fprint(stdout, config.SecretsYAML(s))
	case "env":
		fmt.Fprint(stdout, config.SecretsEnv(s))
	case "raw":
		fmt.Fprintln(stdout, s.Cookie)
	default:
		fmt.Fprintf(stderr, "sidecar keygen: --format must be yaml, env or raw (got %q)\n", *format)
		return 2
	}
	return 0
}
