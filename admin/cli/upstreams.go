package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/sidecarproxy/sidecar/admin"
	"github.com/sidecarproxy/sidecar/proxy"
)

const upstreamsUsage = `usage: sidecar upstreams list|drain|undrain|wait [NAME] [flags]

  list           print each upstream: NAME STATE WEIGHT IN-FLIGHT SERVED FAILURES URL
  drain NAME     send NAME no new requests, then wait until none is in flight
  wait NAME      wait until NAME has no request in flight
  undrain NAME   send NAME requests again

flags (before or after NAME):
  --config FILE      config of the running sidecar: admin.listen and
                     admin.token / admin.token_file (or SIDECAR_ADMIN__TOKEN)
  --admin URL        admin API address, e.g. http://127.0.0.1:9901 or
                     127.0.0.1:9901; overrides admin.listen
  --token-file FILE  file holding the admin token; overrides the config
                     (without --config, SIDECAR_ADMIN__TOKEN is read)
  --timeout D        give up after D, waits included (default 60s)
  --interval D       poll interval while waiting (default 500ms)
  --json             list: print the API's JSON ({"upstreams":[...]})
  --wait=false       drain: return without waiting for in-flight requests
  --wait-healthy     undrain: first probe NAME while it is still drained
                     (a TCP connect, a TLS handshake for https, or the
                     health check path when one is configured) until a
                     probe passes, so that no request meets an app that
                     does not listen yet; then undrain
                     it and wait until it is up (healthy, not ejected) and
                     answers a probe again. On timeout before the first
                     pass it stays drained.

A deploy, one app server at a time:
  sidecar upstreams drain app1 --config sidecar.yaml   # waits for in-flight 0
  (restart app1)
  sidecar upstreams undrain app1 --wait-healthy --config sidecar.yaml

Exit status: 0 done, 1 the API call failed or timed out, 2 usage or config
error (nothing was sent).
`

// upstreamsCmd is one parsed invocation of "sidecar upstreams".
type upstreamsCmd struct {
	adminFlags
	action, name            string
	timeout, interval       time.Duration
	json, wait, waitHealthy bool
}

// Upstreams runs "sidecar upstreams" with the arguments after "upstreams" and
// returns the exit status.
func Upstreams(args []string, env Env) int {
	parse := func(args []string) (adminCommand, error) { return parseUpstreams(args) }
	return runAdminCommand("upstreams", upstreamsUsage, parse, args, env)
}

// verb and limit make upstreamsCmd an adminCommand.
func (cmd *upstreamsCmd) verb() string         { return cmd.action }
func (cmd *upstreamsCmd) limit() time.Duration { return cmd.timeout }

// parseUpstreams parses the action, NAME and flags, which may follow NAME.
func parseUpstreams(args []string) (*upstreamsCmd, error) {
	cmd := &upstreamsCmd{}
	fs := newAdminFlagSet("upstreams", &cmd.adminFlags)
	fs.DurationVar(&cmd.timeout, "timeout", 60*time.Second, "")
	fs.DurationVar(&cmd.interval, "interval", 500*time.Millisecond, "")
	fs.BoolVar(&cmd.json, "json", false, "")
	fs.BoolVar(&cmd.wait, "wait", true, "")
	fs.BoolVar(&cmd.waitHealthy, "wait-healthy", false, "")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) == 0 {
		return nil, errors.New("missing action: list, drain, undrain or wait")
	}
	cmd.action, pos = pos[0], pos[1:]
	only := map[string]string{"json": "list", "wait": "drain", "wait-healthy": "undrain"}
	var misplaced error
	fs.Visit(func(f *flag.Flag) {
		if a, ok := only[f.Name]; ok && a != cmd.action && misplaced == nil {
			misplaced = fmt.Errorf("--%s applies to %s only", f.Name, a)
		}
	})
	switch {
	case cmd.action != "list" && cmd.action != "drain" && cmd.action != "undrain" && cmd.action != "wait":
		return nil, fmt.Errorf("unknown action %q", cmd.action)
	case cmd.action == "list" && len(pos) > 0:
		return nil, fmt.Errorf("list takes no NAME (got %q)", pos[0])
	case cmd.action != "list" && len(pos) != 1:
		return nil, fmt.Errorf("%s takes exactly one NAME (got %d)", cmd.action, len(pos))
	case misplaced != nil:
		return nil, misplaced
	case cmd.timeout <= 0 || cmd.interval <= 0:
		return nil, errors.New("--timeout and --interval must be positive")
	case cmd.configPath == "" && cmd.admin == "":
		return nil, errors.New("--config FILE or --admin URL is required")
	}
	if len(pos) == 1 {
		cmd.name = pos[0]
	}
	return cmd, nil
}

// run performs the action.
func (cmd *upstreamsCmd) run(ctx context.Context, c *admin.Client, stdout, stderr io.Writer) error {
	idle := func(s proxy.State) bool { return s.InFlight == 0 }
	switch cmd.action {
	case "list":
		return cmd.list(ctx, c, stdout)
	case "drain":
		st, err := c.SetDraining(ctx, cmd.name, true)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s, %d in flight\n", st.Name, st.State, st.InFlight)
		if !cmd.wait {
			return nil
		}
		return cmd.waitFor(ctx, c, stdout, idle, "no request in flight")
	case "wait":
		st, err := c.State(ctx, cmd.name)
		if err != nil {
			return err
		}
		if !st.Draining {
			fmt.Fprintf(stderr, "warning: %s is %s, not draining: new requests keep arriving\n", st.Name, st.State)
		}
		return cmd.waitFor(ctx, c, stdout, idle, "no request in flight")
	default: // undrain
		if cmd.waitHealthy {
			r, err := cmd.waitProbe(ctx, c, func(proxy.ProbeResult) bool { return true }, probeFailed)
			if err != nil {
				return fmt.Errorf("%w; %s stays drained", err, cmd.name)
			}
			fmt.Fprintf(stdout, "%s: %s passed while drained\n", r.Name, r.Check)
		}
		st, err := c.SetDraining(ctx, cmd.name, false)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", st.Name, st.State)
		if !cmd.waitHealthy {
			return nil
		}
		r, err := cmd.waitProbe(ctx, c, func(r proxy.ProbeResult) bool { return r.State.State == "up" }, notHealthy)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: up, %s passed\n", r.Name, r.Check)
		return nil
	}
}

// waitProbe has NAME probed through the API, at once and then every
// --interval, until an answer shows its probe passed and its state
// accepted by ok, and returns that answer. A state alone is
// not enough: without active health checks a restarted upstream is "up"
// before its app listens. At the --timeout deadline it fails with the last
// answer seen, as why describes it.
func (cmd *upstreamsCmd) waitProbe(ctx context.Context, c *admin.Client, ok func(proxy.ProbeResult) bool, why func(proxy.ProbeResult) string) (proxy.ProbeResult, error) {
	t := time.NewTicker(cmd.interval)
	defer t.Stop()
	var (
		last proxy.ProbeResult
		seen bool
	)
	for {
		r, err := c.Probe(ctx, cmd.name)
		switch {
		case err == nil && r.OK && ok(r):
			return r, nil
		case err == nil:
			last, seen = r, true
		case ctx.Err() == nil || !seen:
			return r, err
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return last, fmt.Errorf("timed out after %v: %s", cmd.timeout, why(last))
		}
	}
}

// probeFailed says why r's probe failed.
func probeFailed(r proxy.ProbeResult) string {
	return fmt.Sprintf("its last probe (%s) failed: %s", r.Check, r.Error)
}

// notHealthy says why r does not count as healthy.
func notHealthy(r proxy.ProbeResult) string {
	probe := fmt.Sprintf("its last probe (%s) passed", r.Check)
	if !r.OK {
		probe = fmt.Sprintf("its last probe (%s) failed: %s", r.Check, r.Error)
	}
	if r.State.State != "up" {
		return fmt.Sprintf("%s is %s, not up; %s", r.Name, r.State.State, probe)
	}
	return fmt.Sprintf("%s is up but %s", r.Name, probe)
}

// list prints the upstreams as a table or, with --json, as the API's
// JSON ({"upstreams":[...]}).
func (cmd *upstreamsCmd) list(ctx context.Context, c *admin.Client, stdout io.Writer) error {
	states, err := c.List(ctx)
	if err != nil {
		return err
	}
	if cmd.json {
		b, err := json.Marshal(admin.UpstreamList{Upstreams: states})
		if err != nil {
			return err
		}
		_, err = stdout.Write(append(b, '\n'))
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tWEIGHT\tIN-FLIGHT\tSERVED\tFAILURES\tURL")
	for _, s := range states {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", s.Name, s.State, s.Weight, s.InFlight, s.Served, s.Failures, s.URL)
	}
	return tw.Flush()
}

// waitFor waits, polling every --interval, until done holds for the
// upstream, then prints "NAME: what"; at the --timeout deadline it fails
// with the last state seen.
func (cmd *upstreamsCmd) waitFor(ctx context.Context, c *admin.Client, stdout io.Writer, done func(proxy.State) bool, what string) error {
	st, err := c.Wait(ctx, cmd.name, done, cmd.interval)
	switch {
	case err == nil:
		fmt.Fprintf(stdout, "%s: %s\n", st.Name, what)
		return nil
	case !errors.Is(err, admin.ErrNotReached):
		return err
	}
	return fmt.Errorf("timed out after %v: %s still has %d request(s) in flight (state %s)",
		cmd.timeout, st.Name, st.InFlight, st.State)
}
