// Command sidecar is a reverse proxy that takes HTTP sessions out of
// legacy app servers: it owns the session cookie, keeps sessions in a store
// and hands each request's session to the app as a signed header.
//
// Its subcommands (serve, check, upstreams, sessions, store migrate,
// keygen, version, health) are listed by the usage text below, which
// `sidecar` prints without arguments, and in the README.
//
// SIGHUP reloads the config file: upstreams, weights, policy, health
// checks, retries, affinity, the log level, the session and header
// secrets and the error pages change without dropping a connection; an
// invalid file is refused and the running config stays.
// Environment variables override the file: SIDECAR_ then the dotted key
// with "__" for each dot, e.g. SIDECAR_SESSION__IDLE_TIMEOUT=45m.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/sidecarproxy/sidecar/admin/cli"
	"github.com/sidecarproxy/sidecar/cmd/sidecar/app"
	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

const usage = `usage:
  sidecar serve --config FILE   run the proxy until SIGTERM or SIGINT (SIGHUP reloads)
  sidecar check --config FILE   validate the config; exit 1 naming each bad key
  sidecar upstreams list|drain|undrain|wait [NAME] --config FILE
                                inspect and drain upstreams through the admin API
  sidecar sessions list|revoke|count [--principal P | --handle H] --config FILE
                                list and revoke sessions through the admin API
  sidecar store migrate --from FILE --to FILE [--journal FILE] [--dry-run]
                                copy live sessions from one store to another (bolt to Redis)
  sidecar keygen [--format yaml|env|raw]
                                print fresh secrets (cookie, header, admin, lock service)
  sidecar version               print the version, commit and Go version
  sidecar health --config FILE | --url URL
                                GET ops.listen's /healthz: exit 0 healthy, 1 not
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main without the exit, so it can be tested.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	if cmd == "upstreams" {
		return cli.Upstreams(rest, adminEnv(stdout, stderr, os.Environ()))
	}
	if cmd == "keygen" {
		return runKeygen(rest, stdout, stderr)
	}
	if cmd == "version" {
		return runVersion(rest, stdout, stderr)
	}
	if cmd == "sessions" {
		return cli.Sessions(rest, adminEnv(stdout, stderr, os.Environ()))
	}
	if cmd == "health" {
		return runHealth(rest, stdout, stderr, os.Environ())
	}
	if cmd == "store" {
		return runStore(rest, stdout, stderr, os.Environ())
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "path to the YAML config file")
	switch cmd {
	case "serve", "check":
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sidecar: unknown command %q\n%s", cmd, usage)
		return 2
	}
	if err := fs.Parse(rest); err != nil {
		return 2
	}
	if *path == "" || fs.NArg() > 0 {
		fmt.Fprintf(stderr, "sidecar %s: --config FILE is required (and takes no other arguments)\n", cmd)
		return 2
	}
	cfg, err := config.Load(*path, os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "sidecar: invalid config %s:\n%s\n", *path, indent(err))
		return 1
	}
	if cmd == "check" {
		return check(*path, cfg, stdout, stderr)
	}
	return serve(*path, cfg, stdout, stderr)
}

// check builds everything serve would, short of listening, and says
// whether serve would start.
func check(path string, cfg *config.Config, stdout, stderr io.Writer) int {
	m, err := app.New(cfg, io.Discard)
	if err == nil {
		err = m.Check(context.Background())
	}
	if err != nil {
		fmt.Fprintf(stderr, "sidecar: invalid config %s:\n%s\n", path, indent(err))
		return 1
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintf(stderr, "sidecar: warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "config %s is valid\n", path)
	return 0
}

func serve(path string, cfg *config.Config, accessOut, logOut io.Writer) int {
	m, err := app.New(cfg, logOut)
	if err != nil {
		fmt.Fprintf(logOut, "sidecar: %v\n", err)
		return 1
	}
	m.AccessOut = accessOut // log.access: combined
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := m.Run(ctx); err != nil {
		m.Logger().Error().Err(err).Msg("sidecar failed to start")
		return 1
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	m.Wait(ctx, hup, func() { reload(path, m) })
	stop() // a second signal now kills the process the default way
	m.Logger().Info().Msg("draining in-flight requests")
	if err := m.Shutdown(context.Background()); err != nil {
		m.Logger().Error().Err(err).Msg("unclean shutdown")
		return 1
	}
	return 0
}

// reload re-reads the config file on SIGHUP. A config that fails to load
// or validate is refused with the reasons logged, and the running one
// stays.
func reload(path string, m *app.Main) {
	next, err := config.Load(path, os.Environ())
	if err == nil {
		err = m.Reload(next)
	}
	if err != nil {
		m.Logger().Error().Str("config", path).Str("reasons", indent(err)).
			Msg("config reload refused: keeping the running config")
	}
}

// indent puts each joined error on its own indented line.
func indent(err error) string {
	var errs interface{ Unwrap() []error }
	if errors.As(err, &errs) {
		out := ""
		for _, e := range errs.Unwrap() {
			out += "  " + e.Error() + "\n"
		}
		return out
	}
	return "  " + err.Error()
}
