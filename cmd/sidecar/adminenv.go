package main

import (
	"io"

	"github.com/sidecarproxy/sidecar/admin/cli"
	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

// adminEnv is the environment of "sidecar upstreams" and "sidecar
// sessions": the output, environ (os.Environ() in production), and the
// --config FILE lookup of the admin API's address and token through
// config.Load, so that the environment applies.
func adminEnv(stdout, stderr io.Writer, environ []string) cli.Env {
	resolve := func(configFile string) (string, []byte, error) {
		cfg, err := config.Load(configFile, environ)
		if err != nil {
			return "", nil, err
		}
		if !cfg.Admin.Enabled() {
			return "", cfg.Admin.Token.Bytes(), nil
		}
		return cfg.Admin.Listen, cfg.Admin.Token.Bytes(), nil
	}
	return cli.Env{Resolve: resolve, Environ: environ, Stdout: stdout, Stderr: stderr}
}
