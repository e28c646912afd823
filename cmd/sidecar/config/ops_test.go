package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpsValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string // "" : valid
	}{
		{"off by default", func(*Config) {}, ""},
		{"a non-loopback address is allowed", func(c *Config) { c.Ops.Listen = "0.0.0.0:9100" }, ""},
		{"port 0", func(c *Config) { c.Ops.Listen = "127.0.0.1:0" }, ""},
		{"not host:port", func(c *Config) { c.Ops.Listen = "9100" }, `ops.listen: "9100" is not host:port`},
		{"same as listen", func(c *Config) { c.Listen, c.Ops.Listen = "127.0.0.1:8080", ":8080" },
			`ops.listen: must differ from listen ("127.0.0.1:8080")`},
		{"same as admin.listen", func(c *Config) {
			c.Admin.Listen, c.Admin.Token = "127.0.0.1:9090", testAdminToken
			c.Ops.Listen = "127.0.0.1:9090"
		}, `ops.listen: must differ from admin.listen ("127.0.0.1:9090")`},
		{"same as lock_service.listen", func(c *Config) {
			lockService(c)
			c.Ops.Listen = "0.0.0.0:9091"
		}, `ops.listen: must differ from lock_service.listen ("10.0.0.5:9091")`},
		{"same as tls.http_listen", func(c *Config) {
			c.TLS.CertFile, c.TLS.KeyFile, c.TLS.HTTPListen = "/c.pem", "/k.pem", ":80"
			c.Ops.Listen = "0.0.0.0:80"
		}, `ops.listen: must differ from tls.http_listen (":80")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig()
			tt.modify(&c)
			err := c.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestOpsLoadFromEnvironment(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sidecar.yaml")
	require.NoError(t, os.WriteFile(path, []byte(`
upstreams: [{name: app1, url: "http://127.0.0.1:8081"}]
session: {secrets: ["`+testCookieSecret+`"]}
headers: {secret: "`+testHeaderSecret+`"}
ops:
  listen: "127.0.0.1:9100"
`), 0o600))
	cfg, err := Load(path, []string{"SIDECAR_OPS__READINESS_INCLUDES_STORE=true"})
	require.NoError(t, err)
	assert.Equal(t, OpsConfig{Listen: "127.0.0.1:9100", ReadinessIncludesStore: true}, cfg.Ops)
	assert.True(t, cfg.Ops.Enabled())
}

func TestOpsWarning(t *testing.T) {
	c := validConfig()
	assert.Empty(t, c.OpsWarning(), "nothing in the configuration needs ops.listen yet")
	assert.Empty(t, c.Warnings())

	w := c.OpsWarning("the container's HEALTHCHECK")
	assert.Equal(t, "ops.listen is off, yet the container's HEALTHCHECK needs /healthz, /readyz or /metrics there: set ops.listen", w)

	c.Ops.Listen = "127.0.0.1:9100"
	assert.Empty(t, c.OpsWarning("the container's HEALTHCHECK"), "on: nothing to warn about")
}

func TestOpsNeedsRestart(t *testing.T) {
	c := validConfig()
	next := c
	next.Ops = OpsConfig{Listen: "127.0.0.1:9100", ReadinessIncludesStore: true}
	applied, restart := c.ReloadDiff(next)
	assert.Empty(t, applied)
	assert.Equal(t, []string{"ops.listen", "ops.readiness_includes_store"}, restart)
}
