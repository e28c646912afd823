package main

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/admin/cli"
	"github.com/sidecarproxy/sidecar/internal/admintest"
)

// The commands themselves are tested in package admin/cli; these tests
// cover the --config lookup of the admin API's address and token.

const (
	upstreamsCookieSecret = "upstreams-test-cookie-secret-0123456789ab"
	upstreamsHeaderSecret = "upstreams-test-header-secret-0123456789ab"
)

// adminCLI runs "sidecar upstreams" or "sidecar sessions" (command) with
// args, in adminEnv, and checks that the token appears in neither output.
func adminCLI(t *testing.T, command func([]string, cli.Env) int, environ []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = command(args, adminEnv(&out, &errOut, environ))
	assert.NotContains(t, out.String()+errOut.String(), admintest.Token, "the token is never printed")
	return code, out.String(), errOut.String()
}

// configYAML is a minimal valid config with an admin section (%s).
const configYAML = `
listen: 127.0.0.1:0
upstreams:
  - name: app1
    url: http://127.0.0.1:8081
store:
  type: memory
session:
  secrets: [%q]
headers:
  secret: %q
%s`

func TestUpstreamsFromConfig(t *testing.T) {
	e := admintest.New(t, "app1")
	listen := e.Server.Listener.Addr().String()
	cfg := func(admin string) string {
		return admintest.WriteFile(t, "sidecar.yaml", fmt.Sprintf(configYAML, upstreamsCookieSecret, upstreamsHeaderSecret, admin))
	}
	envToken := []string{"SIDECAR_ADMIN__TOKEN=" + admintest.Token}
	for name, tc := range map[string]struct {
		args    []string
		environ []string
	}{
		"admin.token":          {[]string{"--config", cfg(fmt.Sprintf("admin:\n  listen: %s\n  token: %s\n", listen, admintest.Token))}, nil},
		"admin.token_file":     {[]string{"--config", cfg(fmt.Sprintf("admin:\n  listen: %s\n  token_file: %s\n", listen, e.TokenFile))}, nil},
		"SIDECAR_ADMIN__TOKEN": {[]string{"--config", cfg(fmt.Sprintf("admin:\n  listen: %s\n", listen))}, envToken},
		"--token-file over the config": {[]string{"--token-file", e.TokenFile,
			"--config", cfg(fmt.Sprintf("admin:\n  listen: %s\n  token: wrong-token-but-long-enough\n", listen))}, nil},
		"--admin over a disabled admin": {[]string{"--admin", listen, "--config", cfg("")}, envToken},
		"--admin without a config":      {[]string{"--admin", listen}, envToken},
	} {
		t.Run(name, func(t *testing.T) {
			code, stdout, stderr := adminCLI(t, cli.Upstreams, tc.environ, append([]string{"list"}, tc.args...)...)
			require.Equal(t, 0, code, stderr)
			assert.Contains(t, stdout, "app1")
		})
	}

	t.Run("admin disabled", func(t *testing.T) {
		code, stdout, stderr := adminCLI(t, cli.Upstreams, nil, "list", "--config", cfg(""))
		assert.Equal(t, 2, code)
		assert.Empty(t, stdout)
		assert.Contains(t, stderr, "admin API is disabled")
		assert.Contains(t, stderr, "set admin.listen")
	})
	t.Run("invalid config", func(t *testing.T) {
		code, _, stderr := adminCLI(t, cli.Upstreams, nil, "list", "--config", cfg(fmt.Sprintf("admin:\n  listen: %s\n", listen)))
		assert.Equal(t, 2, code)
		assert.Contains(t, stderr, "admin.token")
	})
}

func TestSessionsFromConfig(t *testing.T) {
	e := admintest.New(t, "app1")
	e.Login(t, "ann", "phone")
	listen := e.Server.Listener.Addr().String()
	cfg := admintest.WriteFile(t, "sidecar.yaml", fmt.Sprintf(configYAML, upstreamsCookieSecret, upstreamsHeaderSecret,
		fmt.Sprintf("admin:\n  listen: %s\n  token: %s\n", listen, admintest.Token)))
	code, stdout, stderr := adminCLI(t, cli.Sessions, nil, "revoke", "--principal", "ann", "--config", cfg)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "revoked 1 session(s) of ann\n", stdout)

	code, _, stderr = adminCLI(t, cli.Sessions, nil, "count", "--config",
		admintest.WriteFile(t, "off.yaml", fmt.Sprintf(configYAML, upstreamsCookieSecret, upstreamsHeaderSecret, "")))
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "admin API is disabled")

	wrong := admintest.WriteFile(t, "wrong", "not-the-admin-token\n")
	code, _, stderr = adminCLI(t, cli.Sessions, nil, "count", "--admin", listen, "--token-file", wrong)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "check --token-file, admin.token or admin.token_file")
}

func TestMainDispatchesSessions(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 0, run([]string{"sessions", "--help"}, &out, &errOut))
	assert.Contains(t, out.String(), "usage: sidecar sessions")
}
