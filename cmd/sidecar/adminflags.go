package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/sidecarproxy/sidecar/admin"
	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

// adminFlags are the flags with which every command that calls the admin
// API ("sidecar upstreams", "sidecar sessions") finds it and its token.
type adminFlags struct {
	configPath, admin, tokFile string
}

// register adds --config, --admin and --token-file to fs.
func (cmd *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&cmd.configPath, "config", "", "")
	fs.StringVar(&cmd.admin, "admin", "", "")
	fs.StringVar(&cmd.tokFile, "token-file", "", "")
}

// client resolves the admin API's address and token: --admin and
// --token-file first, then the config file (through config.Load, so the
// environment applies), then, without a config, SIDECAR_ADMIN__TOKEN.
func (cmd *adminFlags) client(environ []string) (*admin.Client, error) {
	addr, token := cmd.admin, ""
	if cmd.tokFile != "" {
		b, err := os.ReadFile(cmd.tokFile)
		if err != nil {
			return nil, fmt.Errorf("reading --token-file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return nil, fmt.Errorf("--token-file %s holds no token", cmd.tokFile)
		}
	}
	if cmd.configPath != "" && (addr == "" || token == "") {
		cfg, err := config.Load(cmd.configPath, environ)
		if err != nil {
			return nil, fmt.Errorf("invalid config %s:\n  %s", cmd.configPath, strings.ReplaceAll(err.Error(), "\n", "\n  "))
		}
		if addr == "" {
			if !cfg.Admin.Enabled() {
				return nil, fmt.Errorf("the admin API is disabled in %s: set admin.listen (and admin.token) there, or pass --admin URL", cmd.configPath)
			}
			addr = cfg.Admin.Listen
		}
		if token == "" {
			token = string(cfg.Admin.Token)
		}
	}
	if token == "" && cmd.configPath == "" {
		envName := config.EnvPrefix + "ADMIN__TOKEN"
		for _, kv := range environ {
			if v, ok := strings.CutPrefix(kv, envName+"="); ok {
				token = strings.TrimSpace(v)
			}
		}
	}
	if token == "" {
		return nil, errors.New("no admin token: pass --token-file, or set admin.token / admin.token_file in the config, or SIDECAR_ADMIN__TOKEN")
	}
	// A nil http.Client: no proxy from the environment, no redirects, so
	// the token goes to the admin API only.
	return admin.NewClient(addr, []byte(token), nil)
}
