package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/sidecarproxy/sidecar/sessions"
)

// RunOptions configure Run: what the command line of `sidecar store
// migrate` sets.
type RunOptions struct {
	// Journal is the path of the journal file ("": none; see OpenJournal).
	Journal string
	// DryRun counts what a copy would do and writes nothing.
	DryRun bool
	// Stdout receives the summary line; Stderr progress, the failed
	// sessions (at most DefaultMaxFailures) and errors. Nil discards.
	Stdout, Stderr io.Writer
}

// Run copies src into dst as `sidecar store migrate` does, printing as it
// goes, and returns the command's exit status: 0 when every session was
// copied (or already there, or expired), 1 when a session failed or the
// copy stopped. Failures name the session's handle and at most the first
// 8 characters of its store key, never its data.
func Run(ctx context.Context, src sessions.Lister, dst sessions.Store, o RunOptions) int {
	stdout, stderr := orDiscard(o.Stdout), orDiscard(o.Stderr)
	fail := func(err error) int { fmt.Fprintf(stderr, "sidecar store migrate: %v\n", err); return 1 }
	opts := Options{DryRun: o.DryRun,
		Progress: func(s Stats) { fmt.Fprintf(stderr, "sidecar store migrate: %v\n", s) },
		OnFailure: func(key, handle string, err error) {
			fmt.Fprintf(stderr, "sidecar store migrate: session %s (key %.8s...): %v\n", handle, key, err)
		}}
	if o.Journal != "" {
		var err error
		if opts.Journal, err = OpenJournal(o.Journal); err != nil {
			return fail(err)
		}
	}
	stats, err := Copy(ctx, src, dst, opts)
	if opts.Journal != nil {
		err = errors.Join(err, opts.Journal.Close())
	}
	prefix := ""
	if o.DryRun {
		prefix = "dry run, nothing written: "
	}
	fmt.Fprintf(stdout, "%s%v\n", prefix, stats)
	if err != nil {
		return fail(err)
	}
	return min(int(stats.Failed), 1)
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
