package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/admin"
	"github.com/sidecarproxy/sidecar/internal/admintest"
)

func TestSessionsUsageErrors(t *testing.T) {
	flags := []string{"--admin", "http://127.0.0.1:1", "--token-file", admintest.WriteFile(t, "token", admintest.Token)}
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
			code, stdout, stderr := runCLI(t, Sessions, nil, tc.args...)
			assert.Equal(t, 2, code, stderr)
			assert.Empty(t, stdout)
			assert.Contains(t, stderr, tc.want)
		})
	}
	code, stdout, _ := runCLI(t, Sessions, nil, "--help")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "usage: sidecar sessions list|revoke|count")
}

func TestSessionsListRevokeCount(t *testing.T) {
	e := admintest.New(t, "app1")
	h1 := e.Login(t, "ann", "Mozilla/5.0 (X11; Linux x86_64)")
	h2 := e.Login(t, "ann", "curl/8.5.0")
	e.Login(t, "bob", "bob")

	code, stdout, stderr := runCLI(t, Sessions, nil, append([]string{"list", "--principal", "ann"}, e.Flags()...)...)
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	require.Len(t, lines, 3, stdout)
	assert.Regexp(t, `^HANDLE +CREATED +LAST-SEEN +IDLE-EXPIRES +ABSOLUTE-EXPIRES +CLIENT-IP +USER-AGENT$`, lines[0])
	const when = `\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ`
	rows := strings.Join(lines[1:], "\n") // created in the same millisecond: in either order
	assert.Regexp(t, `(?m)^`+h1+` +`+when+` +`+when+` +`+when+` +`+when+` +2001:db8::1 +Mozilla/5\.0 \(X11; Linux x86_64\)$`, rows)
	assert.Regexp(t, `(?m)^`+h2+` .* curl/8\.5\.0$`, rows)
	assert.Equal(t, strings.Index(lines[0], "CLIENT-IP"), strings.Index(lines[1], "2001:db8::1"), "columns are aligned")

	code, stdout, stderr = runCLI(t, Sessions, nil, append([]string{"list", "--json", "--principal", "ann"}, e.Flags()...)...)
	require.Equal(t, 0, code, stderr)
	var l admin.SessionList
	require.NoError(t, json.Unmarshal([]byte(stdout), &l))
	assert.Equal(t, 2, l.Total)

	code, stdout, _ = runCLI(t, Sessions, nil, append([]string{"count"}, e.Flags()...)...)
	require.Equal(t, 0, code)
	assert.Equal(t, "3 live sessions\n", stdout)
	code, stdout, _ = runCLI(t, Sessions, nil, append([]string{"count", "--json"}, e.Flags()...)...)
	require.Equal(t, 0, code)
	assert.JSONEq(t, `{"live":3,"approximate":false}`, stdout)

	code, stdout, stderr = runCLI(t, Sessions, nil, append([]string{"revoke", "--handle", h1}, e.Flags()...)...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "revoked session "+h1+"\n", stdout)
	code, _, stderr = runCLI(t, Sessions, nil, append([]string{"revoke", "--handle", h1}, e.Flags()...)...)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "404 Not Found: no live session has that handle")

	code, stdout, stderr = runCLI(t, Sessions, nil, append([]string{"revoke", "--principal", "ann"}, e.Flags()...)...)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "revoked 1 session(s) of ann\n", stdout)
	code, stdout, _ = runCLI(t, Sessions, nil, append([]string{"list", "--principal", "ann"}, e.Flags()...)...)
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
