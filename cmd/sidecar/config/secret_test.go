package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

func TestSecretNeverPrints(t *testing.T) {
	const value = "do-not-print-me-0123456789abcdefgh"
	s := Secret(value)
	c := validConfig()
	c.Session.Secrets = []Secret{value, value + "2"}
	c.Headers.Secret = value + "3"
	c.Admin.Token = value + "4"
	c.Store.Redis.Password = value + "5"
	c.Locks.RedlockPassword = value + "6"
	c.LockService.Token = value + "7"

	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("cfg", "secret", s, "config", c)
	jsonOut, err := json.Marshal(c)
	require.NoError(t, err)
	yamlOut, err := yaml.Marshal(c)
	require.NoError(t, err)

	outputs := map[string]string{
		"String":        s.String(),
		"%v":            fmt.Sprintf("%v", s),
		"%s":            fmt.Sprintf("%s", s),
		"%q":            fmt.Sprintf("%q", s),
		"%x":            fmt.Sprintf("%x", s),
		"%d (bad verb)": fmt.Sprintf("%d", s),
		"%#v":           fmt.Sprintf("%#v", s),
		"Config %v":     fmt.Sprintf("%v", c),
		"Config %+v":    fmt.Sprintf("%+v", c),
		"Config %#v":    fmt.Sprintf("%#v", c),
		"Config String": c.String(),
		"Config JSON":   string(jsonOut),
		"Config YAML":   string(yamlOut),
		"slog":          logged.String(),
	}
	for name, out := range outputs {
		t.Run(name, func(t *testing.T) {
			assert.NotContains(t, out, value)
			assert.NotContains(t, out, "do-not")
			assert.Contains(t, out, "[redacted]")
		})
	}

	t.Run("value is still reachable", func(t *testing.T) {
		assert.Equal(t, []byte(value), s.Bytes())
		assert.Equal(t, value, string(s))
	})
	t.Run("empty prints empty", func(t *testing.T) {
		assert.Equal(t, "", Secret("").String())
		assert.Equal(t, `""`, fmt.Sprintf("%q", Secret("")))
	})
}

func TestConfigString(t *testing.T) {
	c := validConfig()
	out := c.String()
	for _, line := range []string{
		`listen: "127.0.0.1:8080"`,
		`upstreams[0].url: "http://127.0.0.1:8081"`,
		`session.idle_timeout: 30m0s`,
		`session.secrets: [[redacted]]`,
		`headers.secret: [redacted]`,
		`admin.token: ""`,
		`store.redis.addrs: ["127.0.0.1:6379"]`,
		`tls.acme.domains: []`,
		`proxy.max_idle_conns_per_host: 256`,
		`session.strip_cookie: true`,
	} {
		assert.Contains(t, out, line+"\n")
	}
	assert.Contains(t, Default().String(), "upstreams: []\n")
}
