package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/app"
	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/stores/migrate"
)

const storeUsage = "usage: sidecar store migrate --from FILE --to FILE [--journal FILE] [--dry-run]\n  copies the live sessions of --from's store into --to's (docs/migrate.md)\n"

// runStore runs "sidecar store migrate" and returns the exit status: 0
// done, 1 a session failed or the copy failed, 2 usage or config error.
func runStore(args []string, stdout, stderr io.Writer, environ []string) int {
	fs := flag.NewFlagSet("store migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "config file whose store the sessions are copied from (never written)")
	to := fs.String("to", "", "config file whose store they are copied into")
	journal := fs.String("journal", "", "file of the keys earlier runs copied, kept for the next run")
	dry := fs.Bool("dry-run", false, "count what a copy would do; write nothing")
	if len(args) == 0 || args[0] != "migrate" || fs.Parse(args[1:]) != nil || *from == "" || *to == "" || fs.NArg() > 0 {
		fmt.Fprint(stderr, storeUsage)
		return 2
	}
	for _, kv := range environ {
		if strings.HasPrefix(kv, config.EnvPrefix+"STORE__") {
			fmt.Fprintf(stderr, "sidecar store migrate: %s would apply to both --from and --to: unset it and put the key in the files\n", strings.SplitN(kv, "=", 2)[0])
			return 2
		}
	}
	var cfgs [2]*config.Config
	for i, path := range []string{*from, *to} {
		var err error
		if cfgs[i], err = config.Load(path, environ); err != nil {
			fmt.Fprintf(stderr, "sidecar: invalid config %s:\n%s\n", path, indent(err))
			return 2
		}
	}
	for _, w := range config.MigrationWarnings(cfgs[0], cfgs[1]) {
		fmt.Fprintf(stderr, "sidecar store migrate: warning: %s\n", w)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return migrateStores(ctx, cfgs[0], cfgs[1], *journal, *dry, stdout, stderr)
}

// migrateStores opens the two stores and copies (migrate.Run).
func migrateStores(ctx context.Context, from, to *config.Config, journal string, dry bool, stdout, stderr io.Writer) int {
	st, err := app.OpenMigration(ctx, from, to)
	if err != nil {
		fmt.Fprintf(stderr, "sidecar store migrate: %v\n", err)
		return 1
	}
	defer func() { _ = st.Close() }()
	return migrate.Run(ctx, st.From, st.To, migrate.RunOptions{Journal: journal, DryRun: dry, Stdout: stdout, Stderr: stderr})
}
