package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sidecarproxy/sidecar/admin"
	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

// adminFlags are the flags with which every command that calls the admin
// API ("sidecar upstreams", "sidecar sessions") finds it and its token.
type adminFlags struct {
	configPath, admin, tokFile string
}

// adminCommand is one parsed command that calls the admin API.
type adminCommand interface {
	// target says where the API is and which token it takes.
	target() *adminFlags
	// verb is the action, for messages ("list", "revoke").
	verb() string
	// limit bounds the whole command.
	limit() time.Duration
	// run performs the command.
	run(ctx context.Context, c *admin.Client, stdout, stderr io.Writer) error
}

// runAdminCommand runs "sidecar NAME ARGS...", parsing ARGS with parse,
// and returns the exit status: 0 done, 1 the API call failed, 2 a usage
// or config error (nothing was sent). usage is printed for --help and
// after a usage error.
func runAdminCommand(name, usage string, parse func([]string) (adminCommand, error), args []string,
	stdout, stderr io.Writer, environ []string) int {
	cmd, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "sidecar %s: %v\n\n%s", name, err, usage)
		return 2
	}
	c, err := cmd.target().client(environ)
	if err != nil {
		fmt.Fprintf(stderr, "sidecar %s: %v\n", name, err)
		return 2
	}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), cmd.limit())
	defer cancel()
	if err := cmd.run(ctx, c, stdout, stderr); err != nil {
		hint := ""
		if errors.Is(err, admin.ErrUnauthorized) {
			hint = ": check --token-file, admin.token or admin.token_file"
		}
		fmt.Fprintf(stderr, "sidecar %s %s: %v%s\n", name, cmd.verb(), err, hint)
		return 1
	}
	return 0
}

// newAdminFlagSet returns a silent flag set for "sidecar NAME" with the
// admin flags of cmd registered.
func newAdminFlagSet(name string, cmd *adminFlags) *flag.FlagSet {
	fs := flag.NewFlagSet("sidecar "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	cmd.register(fs)
	return fs
}

// parseInterleaved parses args with fs, taking the positional arguments
// wherever they stand among the flags, and returns them in order.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
	}
}

// target is cmd itself, for the commands that embed adminFlags.
func (cmd *adminFlags) target() *adminFlags { return cmd }

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
