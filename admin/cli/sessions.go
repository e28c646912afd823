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
	"github.com/sidecarproxy/sidecar/sessions"
)

const sessionsUsage = `usage: sidecar sessions list|revoke|count [flags]

  list --principal P     print P's live sessions, oldest first: HANDLE CREATED
                         LAST-SEEN IDLE-EXPIRES ABSOLUTE-EXPIRES CLIENT-IP
                         USER-AGENT (times UTC; never the session's data)
  revoke --principal P   revoke every session of P: log out everywhere
  revoke --handle H      revoke the one session whose handle is H (the sid
                         its app sees, as list prints it)
  count                  print the number of live sessions

flags:
  --config FILE      config of the running sidecar: admin.listen and
                     admin.token / admin.token_file (or SIDECAR_ADMIN__TOKEN)
  --admin URL        admin API address, e.g. http://127.0.0.1:9901 or
                     127.0.0.1:9901; overrides admin.listen
  --token-file FILE  file holding the admin token; overrides the config
                     (without --config, SIDECAR_ADMIN__TOKEN is read)
  --timeout D        give up after D (default 30s)
  --json             list, count: print the API's JSON

A revoked session's cookie is anonymous from its next request on: the
user is logged out and may log in again at once.

Exit status: 0 done, 1 the API call failed (an unknown handle too), 2
usage or config error (nothing was sent).
`

// sessionsCmd is one parsed invocation of "sidecar sessions".
type sessionsCmd struct {
	adminFlags
	action, principal, handle string
	timeout                   time.Duration
	json                      bool
}

// Sessions runs "sidecar sessions" with the arguments after "sessions" and
// returns the exit status.
func Sessions(args []string, env Env) int {
	parse := func(args []string) (adminCommand, error) { return parseSessions(args) }
	return runAdminCommand("sessions", sessionsUsage, parse, args, env)
}

// verb and limit make sessionsCmd an adminCommand.
func (cmd *sessionsCmd) verb() string         { return cmd.action }
func (cmd *sessionsCmd) limit() time.Duration { return cmd.timeout }

// parseSessions parses the action and flags, which may come in any order.
func parseSessions(args []string) (*sessionsCmd, error) {
	cmd := &sessionsCmd{}
	fs := newAdminFlagSet("sessions", &cmd.adminFlags)
	fs.StringVar(&cmd.principal, "principal", "", "")
	fs.StringVar(&cmd.handle, "handle", "", "")
	fs.DurationVar(&cmd.timeout, "timeout", 30*time.Second, "")
	fs.BoolVar(&cmd.json, "json", false, "")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) == 0 {
		return nil, errors.New("missing action: list, revoke or count")
	}
	cmd.action = pos[0]
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case len(pos) > 1:
		return nil, fmt.Errorf("unexpected argument %q (give the principal with --principal)", pos[1])
	case cmd.action != "list" && cmd.action != "revoke" && cmd.action != "count":
		return nil, fmt.Errorf("unknown action %q", cmd.action)
	case cmd.action == "list" && (!set["principal"] || set["handle"]):
		return nil, errors.New("list needs --principal P (and no --handle)")
	case cmd.action == "revoke" && set["principal"] == set["handle"]:
		return nil, errors.New("revoke needs either --principal P or --handle H")
	case cmd.action == "count" && (set["principal"] || set["handle"]):
		return nil, errors.New("count takes no --principal or --handle")
	case set["json"] && cmd.action == "revoke":
		return nil, errors.New("--json applies to list and count only")
	case set["principal"] && cmd.principal == "":
		return nil, errors.New("--principal must not be empty")
	case len(cmd.principal) > sessions.MaxPrincipalBytes:
		return nil, fmt.Errorf("--principal is longer than %d bytes", sessions.MaxPrincipalBytes)
	case set["handle"] && !sessions.ValidHandle(cmd.handle):
		return nil, fmt.Errorf("--handle %q is not a handle: 32 lower-case hex digits, as list prints them", cmd.handle)
	case cmd.timeout <= 0:
		return nil, errors.New("--timeout must be positive")
	case cmd.configPath == "" && cmd.admin == "":
		return nil, errors.New("--config FILE or --admin URL is required")
	}
	return cmd, nil
}

// run performs the action.
func (cmd *sessionsCmd) run(ctx context.Context, c *admin.Client, stdout, _ io.Writer) error {
	switch cmd.action {
	case "list":
		l, err := c.Sessions(ctx, cmd.principal)
		if err != nil {
			return err
		}
		if cmd.json {
			return writeJSONLine(stdout, l)
		}
		return printSessions(stdout, l)
	case "count":
		n, err := c.SessionCount(ctx)
		if err != nil {
			return err
		}
		if cmd.json {
			return writeJSONLine(stdout, n)
		}
		about := ""
		if n.Approximate {
			about = " (approximate)"
		}
		_, err = fmt.Fprintf(stdout, "%d live sessions%s\n", n.Live, about)
		return err
	}
	if cmd.handle != "" {
		if err := c.RevokeHandle(ctx, cmd.handle); err != nil {
			return err
		}
		_, err := fmt.Fprintf(stdout, "revoked session %s\n", cmd.handle)
		return err
	}
	n, err := c.RevokePrincipal(ctx, cmd.principal)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "revoked %d session(s) of %s\n", n, cmd.principal)
	return err
}

// printSessions prints l as a table, one session per line. Values from
// the API are cleaned as the store cleans a user agent, so that none can
// break the table or rewrite the terminal.
func printSessions(w io.Writer, l admin.SessionList) error {
	if len(l.Sessions) == 0 {
		_, err := fmt.Fprintf(w, "%s has no live session\n", l.Principal)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "HANDLE\tCREATED\tLAST-SEEN\tIDLE-EXPIRES\tABSOLUTE-EXPIRES\tCLIENT-IP\tUSER-AGENT")
	for _, s := range l.Sessions {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", orDash(s.Handle), stamp(s.Created), stamp(s.LastSeen),
			stamp(s.IdleExpires), stamp(s.AbsoluteExpires), orDash(s.ClientIP), orDash(s.UserAgent))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.Total > len(l.Sessions) {
		_, err := fmt.Fprintf(w, "(%d of %d sessions shown)\n", len(l.Sessions), l.Total)
		return err
	}
	return nil
}

// stamp formats t for the table: UTC, to the second.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// orDash is s cleaned for the table (see printSessions), or "-" when it
// is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return sessions.CleanUserAgent(s)
}

// writeJSONLine writes v as one line of JSON.
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
