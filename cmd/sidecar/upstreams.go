package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/proxy/admin"
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
  --json             list: print the API's JSON
  --wait=false       drain: return without waiting for in-flight requests
  --wait-healthy     undrain: wait until NAME is up (healthy, not ejected)

A deploy, one app server at a time:
  sidecar upstreams drain app1 --config sidecar.yaml   # waits for in-flight 0
  (restart app1)
  sidecar upstreams undrain app1 --wait-healthy --config sidecar.yaml

Exit status: 0 done, 1 the API call failed or timed out, 2 usage or config
error (nothing was sent).
`

// upstreamsCmd is one parsed invocation of "sidecar upstreams".
type upstreamsCmd struct {
	action, name               string
	configPath, admin, tokFile string
	timeout, interval          time.Duration
	json, wait, waitHealthy    bool
}

// runUpstreams runs "sidecar upstreams" with the arguments after
// "upstreams" and returns the exit status. environ is os.Environ() in
// production.
func runUpstreams(args []string, stdout, stderr io.Writer, environ []string) int {
	cmd, err := parseUpstreams(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, upstreamsUsage)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "sidecar upstreams: %v\n\n%s", err, upstreamsUsage)
		return 2
	}
	c, err := cmd.client(environ)
	if err != nil {
		fmt.Fprintf(stderr, "sidecar upstreams: %v\n", err)
		return 2
	}
	defer c.hc.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), cmd.timeout)
	defer cancel()
	if err := cmd.run(ctx, c, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "sidecar upstreams %s: %v\n", cmd.action, err)
		return 1
	}
	return 0
}

// parseUpstreams parses the action, NAME and flags, which may follow NAME.
func parseUpstreams(args []string) (*upstreamsCmd, error) {
	cmd := &upstreamsCmd{}
	fs := flag.NewFlagSet("sidecar upstreams", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&cmd.configPath, "config", "", "")
	fs.StringVar(&cmd.admin, "admin", "", "")
	fs.StringVar(&cmd.tokFile, "token-file", "", "")
	fs.DurationVar(&cmd.timeout, "timeout", 60*time.Second, "")
	fs.DurationVar(&cmd.interval, "interval", 500*time.Millisecond, "")
	fs.BoolVar(&cmd.json, "json", false, "")
	fs.BoolVar(&cmd.wait, "wait", true, "")
	fs.BoolVar(&cmd.waitHealthy, "wait-healthy", false, "")
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos, args = append(pos, fs.Arg(0)), fs.Args()[1:]
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

// client resolves the admin API's address and token: --admin and
// --token-file first, then the config file (through config.Load, so the
// environment applies), then, without a config, SIDECAR_ADMIN__TOKEN.
func (cmd *upstreamsCmd) client(environ []string) (*adminClient, error) {
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
	base, err := adminBaseURL(addr)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the token goes to the admin API only, never through a proxy
	return &adminClient{base: base, token: token, hc: &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}

// adminBaseURL turns an http(s) URL or a listen address (host:port; an
// unspecified host means loopback) into the API's base URL.
func adminBaseURL(addr string) (string, error) {
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return "", fmt.Errorf("admin address %q: want http://host:port or https://host:port", addr)
		}
		return strings.TrimRight(addr, "/"), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("admin address %q: want host:port or a URL", addr)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// run performs the action.
func (cmd *upstreamsCmd) run(ctx context.Context, c *adminClient, stdout, stderr io.Writer) error {
	idle := func(s proxy.State) bool { return s.InFlight == 0 }
	switch cmd.action {
	case "list":
		return cmd.list(ctx, c, stdout)
	case "drain":
		st, err := c.setDraining(ctx, cmd.name, true)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s, %d in flight\n", st.Name, st.State, st.InFlight)
		if !cmd.wait {
			return nil
		}
		return cmd.waitFor(ctx, c, stdout, idle, "no request in flight")
	case "wait":
		st, err := c.state(ctx, cmd.name)
		if err != nil {
			return err
		}
		if !st.Draining {
			fmt.Fprintf(stderr, "warning: %s is %s, not draining: new requests keep arriving\n", st.Name, st.State)
		}
		return cmd.waitFor(ctx, c, stdout, idle, "no request in flight")
	default: // undrain
		st, err := c.setDraining(ctx, cmd.name, false)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", st.Name, st.State)
		if !cmd.waitHealthy {
			return nil
		}
		return cmd.waitFor(ctx, c, stdout, func(s proxy.State) bool { return s.State == "up" }, "up")
	}
}

// list prints the upstreams as a table, or the API's JSON with --json.
func (cmd *upstreamsCmd) list(ctx context.Context, c *adminClient, stdout io.Writer) error {
	states, raw, err := c.list(ctx)
	if err != nil {
		return err
	}
	if cmd.json {
		_, err := stdout.Write(raw)
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATE\tWEIGHT\tIN-FLIGHT\tSERVED\tFAILURES\tURL")
	for _, s := range states {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", s.Name, s.State, s.Weight, s.InFlight, s.Served, s.Failures, s.URL)
	}
	return tw.Flush()
}

// waitFor polls the upstream every --interval until done holds, then
// prints "NAME: what"; at the deadline it fails with the last state seen.
func (cmd *upstreamsCmd) waitFor(ctx context.Context, c *adminClient, stdout io.Writer, done func(proxy.State) bool, what string) error {
	t := time.NewTicker(cmd.interval)
	defer t.Stop()
	var last *proxy.State
	for {
		st, err := c.state(ctx, cmd.name)
		switch {
		case err == nil && done(st):
			fmt.Fprintf(stdout, "%s: %s\n", st.Name, what)
			return nil
		case err == nil:
			last = &st
		case ctx.Err() == nil || last == nil:
			return err
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			if what == "up" {
				return fmt.Errorf("timed out after %v: %s is %s, not up", cmd.timeout, last.Name, last.State)
			}
			return fmt.Errorf("timed out after %v: %s still has %d request(s) in flight (state %s)",
				cmd.timeout, last.Name, last.InFlight, last.State)
		}
	}
}

// adminClient calls the admin API with the bearer token. Its errors never
// include the token.
type adminClient struct {
	base  string
	token string
	hc    *http.Client
}

// list returns GET /upstreams decoded and raw.
func (c *adminClient) list(ctx context.Context) ([]proxy.State, []byte, error) {
	raw, err := c.call(ctx, http.MethodGet, "/upstreams")
	if err != nil {
		return nil, nil, err
	}
	var l admin.UpstreamList
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, nil, fmt.Errorf("decoding GET /upstreams: %w", err)
	}
	return l.Upstreams, raw, nil
}

// state returns the named upstream's State from GET /upstreams.
func (c *adminClient) state(ctx context.Context, name string) (proxy.State, error) {
	states, _, err := c.list(ctx)
	if err != nil {
		return proxy.State{}, err
	}
	for _, s := range states {
		if s.Name == name {
			return s, nil
		}
	}
	return proxy.State{}, fmt.Errorf("unknown upstream %q", name)
}

// setDraining drains or undrains name and returns its new State.
func (c *adminClient) setDraining(ctx context.Context, name string, on bool) (proxy.State, error) {
	op := "undrain"
	if on {
		op = "drain"
	}
	raw, err := c.call(ctx, http.MethodPost, "/upstreams/"+url.PathEscape(name)+"/"+op)
	if err != nil {
		return proxy.State{}, err
	}
	var st proxy.State
	if err := json.Unmarshal(raw, &st); err != nil {
		return proxy.State{}, fmt.Errorf("decoding the %s response: %w", op, err)
	}
	return st, nil
}

// call sends one request and returns the body of a 200, or an error that
// carries the API's {"error"} message.
func (c *adminClient) call(ctx context.Context, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling the admin API: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", method, path, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return body, nil
	case http.StatusUnauthorized:
		return nil, fmt.Errorf("the admin API at %s rejected the token (401 Unauthorized): check --token-file, admin.token or admin.token_file", c.base)
	}
	msg := resp.Status
	var er admin.ErrorResponse
	if json.Unmarshal(body, &er) == nil && er.Error != "" {
		msg += ": " + er.Error
	}
	return nil, fmt.Errorf("%s %s: %s", method, path, msg)
}
