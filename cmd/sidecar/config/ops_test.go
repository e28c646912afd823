package config

import (
	"os"
	"path/filepath"
	"strings"
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

func TestOpsNeededBy(t *testing.T) {
	c := validConfig()
	c.Ops.NeededBy = []string{"the container image's HEALTHCHECK"}
	require.NoError(t, c.Validate())
	assert.Equal(t, []string{"ops.listen is off, yet the container image's HEALTHCHECK needs /healthz, /readyz or /metrics there: set ops.listen"},
		c.Warnings(), "check and serve warn")
	assert.Equal(t, "ops.listen is off, yet the container image's HEALTHCHECK and sidecar health needs /healthz, /readyz or /metrics there: set ops.listen",
		c.OpsWarning("sidecar health"))
	assert.Equal(t, []string{"the container image's HEALTHCHECK"}, c.Ops.NeededBy, "OpsWarning leaves the key alone")
	c.Ops.Listen = "0.0.0.0:9100"
	assert.Empty(t, c.Warnings(), "on: nothing to warn about")

	for name, needs := range map[string][]string{
		"too many":      {"a", "b", "c", "d", "e", "f", "g", "h", "i"},
		"empty":         {""},
		"too long":      {strings.Repeat("x", 121)},
		"control chars": {"HEALTHCHECK\x1b[2J"},
	} {
		t.Run(name, func(t *testing.T) {
			c := validConfig()
			c.Ops.NeededBy = needs
			err := c.Validate()
			require.Error(t, err)
			assert.Contains(t, err.Error(), "ops.needed_by")
		})
	}

	t.Run("from the environment", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sidecar.yaml")
		require.NoError(t, os.WriteFile(path, []byte(minimalYAML), 0o600))
		cfg, err := Load(path, []string{"SIDECAR_OPS__NEEDED_BY=the container image's HEALTHCHECK (sidecar health)"})
		require.NoError(t, err)
		assert.Equal(t, []string{"the container image's HEALTHCHECK (sidecar health)"}, cfg.Ops.NeededBy)
		assert.Len(t, cfg.Warnings(), 1)
	})
}

func TestLoadOps(t *testing.T) {
	write := func(t *testing.T, body string) string {
		path := filepath.Join(t.TempDir(), "sidecar.yaml")
		require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
		return path
	}
	t.Run("off by default", func(t *testing.T) {
		o, err := LoadOps(write(t, minimalYAML), nil)
		require.NoError(t, err)
		assert.False(t, o.Enabled())
	})
	t.Run("from the file, the rest of it unchecked", func(t *testing.T) {
		// A missing secret file and an unknown key make Load fail; a
		// liveness probe must not.
		path := write(t, minimalYAML+"ops: {listen: \"0.0.0.0:9100\"}\nbogus: 1\nstore: {redis: {password_file: /nonexistent}}\n")
		_, err := Load(path, nil)
		require.Error(t, err)
		o, err := LoadOps(path, nil)
		require.NoError(t, err)
		assert.Equal(t, "0.0.0.0:9100", o.Listen)
	})
	t.Run("the environment wins, other variables ignored", func(t *testing.T) {
		path := write(t, minimalYAML+"ops: {listen: \"0.0.0.0:9100\"}\n")
		o, err := LoadOps(path, []string{"SIDECAR_OPS__LISTEN=127.0.0.1:9200", "SIDECAR_OPS__NOPE=1", "SIDECAR_LISTEN=bad", "SIDECAR_PORT=tcp://10.0.0.1:80"})
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1:9200", o.Listen)
		o, err = LoadOps("", []string{"SIDECAR_OPS__LISTEN=:9300"})
		require.NoError(t, err)
		assert.Equal(t, ":9300", o.Listen, "no file")
	})
	for name, tc := range map[string]struct {
		body    string
		environ []string
		want    string
	}{
		"listen not host:port": {minimalYAML + "ops: {listen: \"9100\"}\n", nil, `ops.listen: "9100" is not host:port`},
		"wrong type":           {minimalYAML + "ops: {listen: [a]}\n", nil, "ops.listen"},
		"not a section":        {minimalYAML + "ops: 5\n", nil, "ops"},
		"bad environment":      {minimalYAML, []string{"SIDECAR_OPS__READINESS_INCLUDES_STORE=maybe"}, "ops.readiness_includes_store"},
		"not YAML":             {"ops: [\n", nil, "loading config file"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadOps(write(t, tc.body), tc.environ)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := LoadOps(filepath.Join(t.TempDir(), "none.yaml"), nil)
		require.Error(t, err)
	})
}

func TestPprofWarning(t *testing.T) {
	for _, tc := range []struct {
		name, listen string
		pprof        bool
		want         string // a part of the one warning, "" for none
	}{
		{"off", "0.0.0.0:9100", false, ""},
		{"on loopback", "127.0.0.1:9100", true, ""},
		{"on localhost", "localhost:9100", true, ""},
		{"on IPv6 loopback", "[::1]:9100", true, ""},
		{"on every address", "0.0.0.0:9100", true, `ops.listen ("0.0.0.0:9100"), which is not a loopback address`},
		{"on an empty host", ":9100", true, "not a loopback address"},
		{"on without the listener", "", true, "ops.pprof is on but ops.listen is off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			c.Ops.Listen, c.Ops.Pprof = tc.listen, tc.pprof
			require.NoError(t, c.Validate(), "a warning, never an error")
			if tc.want == "" {
				assert.Empty(t, c.Warnings())
				return
			}
			require.Len(t, c.Warnings(), 1)
			assert.Contains(t, c.Warnings()[0], tc.want)
		})
	}

	t.Run("from the environment, taking a restart", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sidecar.yaml")
		require.NoError(t, os.WriteFile(path, []byte(minimalYAML), 0o600))
		cfg, err := Load(path, []string{"SIDECAR_OPS__PPROF=true", "SIDECAR_OPS__LISTEN=127.0.0.1:9100"})
		require.NoError(t, err)
		assert.True(t, cfg.Ops.Pprof)
		assert.Empty(t, cfg.Warnings())
		next := *cfg
		next.Ops.Pprof = false
		applied, restart := cfg.ReloadDiff(next)
		assert.Empty(t, applied)
		assert.Equal(t, []string{"ops.pprof"}, restart)
	})
}
