package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/admin"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

// sessionsEnv is a real admin.Handler over a real Manager on a memory
// store.
type sessionsEnv struct {
	m         *sessions.Manager
	admin     *httptest.Server
	tokenFile string
}

func newSessionsEnv(t *testing.T) *sessionsEnv {
	t.Helper()
	pool, err := proxy.NewPool(proxy.PoolOptions{Upstreams: []proxy.Upstream{
		{Name: "app1", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:1"}},
	}}, nil, zerolog.Nop())
	require.NoError(t, err)
	t.Cleanup(func() { _ = pool.Close() })
	mem := memory.New(memory.Options{})
	t.Cleanup(func() { _ = mem.Close() })
	signer, err := sessions.NewSigner([][]byte{[]byte(upstreamsCookieSecret)})
	require.NoError(t, err)
	m, err := sessions.NewManager(sessions.Options{Store: mem, Signer: signer})
	require.NoError(t, err)
	h, err := admin.New(admin.Options{Token: []byte(testAdminToken), Pool: pool, Sessions: m})
	require.NoError(t, err)
	e := &sessionsEnv{m: m, admin: httptest.NewServer(h), tokenFile: writeFile(t, "token", testAdminToken+"\n")}
	t.Cleanup(e.admin.Close)
	return e
}

func (e *sessionsEnv) flags() []string {
	return []string{"--admin", e.admin.URL, "--token-file", e.tokenFile}
}

// login creates a session of p from a client whose User-Agent is ua and
// returns its handle.
func (e *sessionsEnv) login(t *testing.T, p, ua string) string {
	t.Helper()
	s := e.m.Identify("")
	s.SetClient(netip.MustParseAddr("2001:db8::1"), ua)
	require.NoError(t, e.m.Commit(context.Background(), s, &sessions.Change{Principal: &p}))
	return s.SID()
}

// sessionsCLI runs "sidecar sessions args..." and checks that the token
// appears in neither output.
func sessionsCLI(t *testing.T, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runSessions(args, &out, &errOut, environ)
	assert.NotContains(t, out.String()+errOut.String(), testAdminToken, "the token is never printed")
	return code, out.String(), errOut.String()
}

func TestSessionsUsageErrors(t *testing.T) {
	flags := []string{"--admin", "http://127.0.0.1:1", "--token-file", writeFile(t, "token", testAdminToken)}
	with := func(args ...string) []string { return append(args, flags...) }
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no action":               {nil, "missing action"},
		"unknown action":          {with("kill"), `unknown action "kill"`},
		"principal as argument":   {with("list", "ann"), `unexpected argument "ann"`},
		"list without principal":  {with("list"), "list needs --principal P"},
		"revoke with neither":     {with("revoke"), "either --principal P or --handle H"},
		"revoke with both":        {with("revoke", "--principal", "ann", "--handle", strings.Repeat("a", 32)), "either"},
		"count with a principal":  {with("count", "--principal", "ann"), "count takes no --principal"},
		"json on revoke":          {with("revoke", "--principal", "ann", "--json"), "--json applies to list and count"},
		"empty principal":         {with("revoke", "--principal", ""), "must not be empty"},
		"long principal":          {with("list", "--principal", strings.Repeat("p", 513)), "longer than 512 bytes"},
		"malformed handle":        {with("revoke", "--handle", "ABC"), `--handle "ABC" is not a handle`},
		"no config, no admin":     {[]string{"count"}, "--config FILE or --admin URL is required"},
		"bad timeout":             {with("count", "--timeout", "-1s"), "must be positive"},
		"missing config":          {[]string{"count", "--config", "/nonexistent/sidecar.yaml"}, "invalid config"},
		"no token":                {[]string{"count", "--admin", "127.0.0.1:1"}, "no admin token"},
		"unknown flag":            {with("count", "--bogus"), "flag provided but not defined: -bogus"},
		"handle as argument":      {with("revoke", strings.Repeat("a", 32)), "unexpected argument"},
		"revoke principal twice?": {with("revoke", "--principal", "a", "b"), `unexpected argument "b"`},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := sessionsCLI(t, nil, tc.args...)
			assert.Equal(t, 2, code, stderr)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
		})
	}
	code, stdout, _ := sessionsCLI(t, nil, "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "usage: sidecar sessions list|revoke|count")
}

func TestSessionsListRevokeCount(t *testing.T) {
	e := newSessionsEnv(t)
	h1 := e.login(t, "ann", "Mozilla/5.0 (X11; Linux x86_64)")
	h2 := e.login(t, "ann", "curl/8.5.0")
	e.login(t, "bob", "bob")

	code, stdout, stderr := sessionsCLI(t, nil, append([]string{"list", "--principal", "ann"}, e.flags()...)...)
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3, stdout)
	assert.Regexp(t, `^HANDLE +CREATED +LAST-SEEN +IDLE-EXPIRES +ABSOLUTE-EXPIRES +CLIENT-IP +USER-AGENT$`, lines[0])
	const when = `\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ`
	rows := strings.Join(lines[1:], "\n") // created in the same millisecond: in either order
	assert.Regexp(t, `(?m)^`+h1+` +`+when+` +`+when+` +`+when+` +`+when+` +2001:db8::1 +Mozilla/5\.0 \(X11; Linux x86_64\)$`, rows)
	assert.Regexp(t, `(?m)^`+h2+` .* curl/8\.5\.0$`, rows)
	assert.Equal(t, strings.Index(lines[0], "CLIENT-IP"), strings.Index(lines[1], "2001:db8::1"), "columns are aligned")

	code, stdout, stderr = sessionsCLI(t, nil, append([]string{"list", "--json", "--principal", "ann"}, e.flags()...)...)
	require.Equal(t, 0, code, stderr)
	var l admin.SessionList
	require.NoError(t, json.Unmarshal([]byte(stdout), &l))
	assert.Equal(t, 2, l.Total)

	code, stdout, _ = sessionsCLI(t, nil, append([]string{"count"}, e.flags()...)...)
	require.Equal(t, 0, code)
	assert.Equal(t, "3 live sessions\n", stdout)
	code, stdout, _ = sessionsCLI(t, nil, append([]string{"count", "--json"}, e.flags()...)...)
	require.Equal(t, 0, code)
	assert.JSONEq(t, `{"live":3,"approximate":false}`, stdout)

	code, stdout, stderr = sessionsCLI(t, nil, append([]string{"revoke", "--handle", h1}, e.flags()...)...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "revoked session "+h1+"\n", stdout)
	code, _, stderr = sessionsCLI(t, nil, append([]string{"revoke", "--handle", h1}, e.flags()...)...)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "404 Not Found: no live session has that handle")

	code, stdout, stderr = sessionsCLI(t, nil, append([]string{"revoke", "--principal", "ann"}, e.flags()...)...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "revoked 1 session(s) of ann\n", stdout)
	code, stdout, _ = sessionsCLI(t, nil, append([]string{"list", "--principal", "ann"}, e.flags()...)...)
	require.Equal(t, 0, code)
	assert.Equal(t, "ann has no live session\n", stdout)
}

func TestSessionsTableIsClean(t *testing.T) {
	var out bytes.Buffer
	require.NoError(t, printSessions(&out, admin.SessionList{Principal: "ann", Total: 3, Sessions: []admin.Session{
		{Handle: "", ClientIP: "192.0.2.1", UserAgent: "evil\x1b[2J\tagent\n"},
	}}))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, out.String())
	assert.Regexp(t, `^- +.* +192\.0\.2\.1 +evil\x{FFFD}\[2J\x{FFFD}agent\x{FFFD}$`, lines[1], "no escape, tab or newline gets through")
	assert.Equal(t, "(1 of 3 sessions shown)", lines[2])
}

func TestSessionsFromConfig(t *testing.T) {
	e := newSessionsEnv(t)
	e.login(t, "ann", "phone")
	listen := e.admin.Listener.Addr().String()
	cfg := writeFile(t, "sidecar.yaml", fmt.Sprintf(configYAML, upstreamsCookieSecret, upstreamsHeaderSecret,
		fmt.Sprintf("admin:\n  listen: %s\n  token: %s\n", listen, testAdminToken)))
	code, stdout, stderr := sessionsCLI(t, nil, "revoke", "--principal", "ann", "--config", cfg)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "revoked 1 session(s) of ann\n", stdout)

	code, _, stderr = sessionsCLI(t, nil, "count", "--config",
		writeFile(t, "off.yaml", fmt.Sprintf(configYAML, upstreamsCookieSecret, upstreamsHeaderSecret, "")))
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "admin API is disabled")

	wrong := writeFile(t, "wrong", "not-the-admin-token\n")
	code, _, stderr = sessionsCLI(t, nil, "count", "--admin", listen, "--token-file", wrong)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "check --token-file, admin.token or admin.token_file")
}

func TestMainDispatchesSessions(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 0, run([]string{"sessions", "--help"}, &out, &errOut))
	assert.Contains(t, out.String(), "usage: sidecar sessions")
}
