// Package cli is the sidecar upstreams and sidecar sessions commands:
// their flags, their calls through admin.Client and their output. It
// knows no config file: the program passes in, as Env.Resolve, how a
// --config FILE gives the admin API's address and token.
package cli

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
)

// tokenEnv is the environment variable read for the token when there is
// no --config (with one, the config's own environment overrides apply).
const tokenEnv = "SIDECAR_ADMIN__TOKEN"

// Env is what a command takes from the program that runs it.
type Env struct {
	// Resolve reads the config file at configFile (the environment
	// applies) and returns the admin API's address, "" when the API is
	// disabled there, and its token, nil when it has none. It is called
	// only for --config, when --admin or --token-file leave something
	// to find. Its errors are printed as "invalid config FILE:" and
	// each line of the error.
	Resolve func(configFile string) (addr string, token []byte, err error)
	// Environ is os.Environ() in production: where SIDECAR_ADMIN__TOKEN
	// is read without --config.
	Environ []string
	// Stdout and Stderr receive the output and the errors.
	Stdout, Stderr io.Writer
}

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
func runAdminCommand(name, usage string, parse func([]string) (adminCommand, error), args []string, env Env) int {
	stdout, stderr := env.Stdout, env.Stderr
	cmd, err := parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "sidecar %s: %v\n\n%s", name, err, usage)
		return 2
	}
	c, err := cmd.target().client(env)
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
// --token-file first, then the config file (through env.Resolve), then,
// without a config, SIDECAR_ADMIN__TOKEN.
func (cmd *adminFlags) client(env Env) (*admin.Client, error) {
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
		if env.Resolve == nil {
			return nil, errors.New("--config is not supported here: pass --admin URL and --token-file")
		}
		cfgAddr, cfgToken, err := env.Resolve(cmd.configPath)
		if err != nil {
			return nil, fmt.Errorf("invalid config %s:\n  %s", cmd.configPath, strings.ReplaceAll(err.Error(), "\n", "\n  "))
		}
		if addr == "" {
			if cfgAddr == "" {
				return nil, fmt.Errorf("the admin API is disabled in %s: set admin.listen (and admin.token) there, or pass --admin URL", cmd.configPath)
			}
			addr = cfgAddr
		}
		if token == "" {
			token = string(cfgToken)
		}
	}
	if token == "" && cmd.configPath == "" {
		for _, kv := range env.Environ {
			if v, ok := strings.CutPrefix(kv, tokenEnv+"="); ok {
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
