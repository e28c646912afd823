package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/sidecarproxy/sidecar/proxy"
)

// minimalYAML holds the keys without a default.
const minimalYAML = `
upstreams:
  - name: app1
    url: "http://127.0.0.1:8081"
session:
  secrets: ["` + testCookieSecret + `"]
headers:
  secret: "` + testHeaderSecret + `"
`

// writeFile writes content to a new file in a test directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// errorKeys returns the Key of every *KeyError in err's tree, in order.
func errorKeys(err error) []string {
	var keys []string
	var ke *KeyError
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			keys = append(keys, errorKeys(inner)...)
		}
	default:
		if errors.As(err, &ke) {
			keys = append(keys, ke.Key)
		}
	}
	return keys
}

func TestLoadMinimalFileKeepsDefaults(t *testing.T) {
	cfg, err := Load(writeFile(t, "sidecar.yaml", minimalYAML), nil)
	require.NoError(t, err)

	want := validConfig()
	assert.Equal(t, &want, cfg)
}

func TestLoadFileOverrides(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, c *Config)
	}{
		{"scalar", "listen: \"0.0.0.0:9000\"\n", func(t *testing.T, c *Config) {
			assert.Equal(t, "0.0.0.0:9000", c.Listen)
		}},
		{"nested duration", "session:\n  idle_timeout: 45m\n", func(t *testing.T, c *Config) {
			assert.Equal(t, 45*time.Minute, c.Session.IdleTimeout)
			assert.Equal(t, 12*time.Hour, c.Session.AbsoluteTimeout, "sibling keeps its default")
		}},
		{"deeply nested", "store:\n  bolt:\n    no_sync: true\n    path: /var/lib/sidecar/s.db\n", func(t *testing.T, c *Config) {
			assert.True(t, c.Store.Bolt.NoSync)
			assert.Equal(t, "/var/lib/sidecar/s.db", c.Store.Bolt.Path)
			assert.Equal(t, time.Minute, c.Store.Bolt.SweepInterval)
		}},
		{"list replaces the default list", "store:\n  redis:\n    addrs: [\"a:1\", \"b:2\"]\n", func(t *testing.T, c *Config) {
			assert.Equal(t, []string{"a:1", "b:2"}, c.Store.Redis.Addrs)
		}},
		{"shorter list replaces the default list", "store:\n  redis:\n    addrs: []\n", func(t *testing.T, c *Config) {
			assert.Empty(t, c.Store.Redis.Addrs)
		}},
		{"enum", "store:\n  type: memory\nsession:\n  locking: session\n", func(t *testing.T, c *Config) {
			assert.Equal(t, StoreMemory, c.Store.Type)
			assert.Equal(t, LockingSession, c.Session.Locking)
		}},
		{"integer", "session:\n  max_bytes: 65536\n", func(t *testing.T, c *Config) {
			assert.Equal(t, 65536, c.Session.MaxBytes)
		}},
		{"bare off is a string in YAML 1.2", "session:\n  locking: off\n", func(t *testing.T, c *Config) {
			assert.Equal(t, LockingOff, c.Session.Locking)
		}},
		{"bool false overrides default true", "session:\n  strip_cookie: false\n", func(t *testing.T, c *Config) {
			assert.False(t, c.Session.StripCookie)
		}},
		{"null keeps the default", "session:\n  cookie_name:\n", func(t *testing.T, c *Config) {
			assert.Equal(t, "sidecar_sid", c.Session.CookieName)
		}},
		{"several upstreams", "upstreams:\n  - {name: a, url: \"http://127.0.0.1:1\"}\n  - {name: b, url: \"https://b.internal\"}\n", func(t *testing.T, c *Config) {
			assert.Equal(t, []Upstream{{"a", "http://127.0.0.1:1", 1}, {"b", "https://b.internal", 1}}, c.Upstreams)
		}},
		{"weights: absent is 1", "upstreams:\n  - {name: a, url: \"http://127.0.0.1:1\", weight: 3}\n  - {name: b, url: \"http://127.0.0.1:2\"}\n  - {name: c, url: \"http://127.0.0.1:3\", weight: 1}\n", func(t *testing.T, c *Config) {
			assert.Equal(t, []int{3, 1, 1}, []int{c.Upstreams[0].Weight, c.Upstreams[1].Weight, c.Upstreams[2].Weight})
		}},
		{"pool sections", "proxy:\n  policy: least_conn\n  health_check:\n    path: /healthz\n    expect_status: 204\n  passive:\n    max_fails: 0\n  retry:\n    attempts: 1\n    buffer_bytes: 0\n", func(t *testing.T, c *Config) {
			assert.Equal(t, proxy.LeastConn, c.Proxy.Policy)
			assert.Equal(t, "/healthz", c.Proxy.HealthCheck.Path)
			assert.Equal(t, 204, c.Proxy.HealthCheck.ExpectStatus)
			assert.Equal(t, 5*time.Second, c.Proxy.HealthCheck.Interval, "sibling keeps its default")
			assert.Equal(t, 0, c.Proxy.Passive.MaxFails)
			assert.Equal(t, 1, c.Proxy.Retry.Attempts)
			assert.Equal(t, 0, c.Proxy.Retry.BufferBytes)
			assert.Equal(t, 15*time.Second, c.Proxy.Retry.Timeout)
		}},
		{"affinity routes", "proxy:\n  affinity:\n    cookie: JSESSIONID\n    routes:\n      node1: app1\n      node.2: app1\n    mode: map\n", func(t *testing.T, c *Config) {
			assert.Equal(t, AffinityConfig{
				Cookie: "JSESSIONID",
				Mode:   proxy.ValueMap,
				Routes: map[string]string{"node1": "app1", "node.2": "app1"},
			}, c.Proxy.Affinity, "a route may contain the key delimiter")
		}},
		{"empty routes", "proxy:\n  affinity:\n    routes: {}\n", func(t *testing.T, c *Config) {
			assert.Equal(t, map[string]string{}, c.Proxy.Affinity.Routes)
		}},
		{"handover socket", "server:\n  handover_socket: /run/sidecar/handover.sock\nstore:\n  type: memory\n", func(t *testing.T, c *Config) {
			assert.Equal(t, "/run/sidecar/handover.sock", c.Server.HandoverSocket)
		}},
		{"two session secrets", "session:\n  secrets: [\"" + testCookieSecret2 + "\", \"" + testCookieSecret + "\"]\n", func(t *testing.T, c *Config) {
			assert.Equal(t, []Secret{testCookieSecret2, testCookieSecret}, c.Session.Secrets)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, "sidecar.yaml", merge(t, minimalYAML, tt.yaml)), nil)
			require.NoError(t, err)
			tt.check(t, cfg)
		})
	}
}

// merge returns the YAML document base with the keys of extra set over
// it, section by section, as if extra were a second config file.
func merge(t *testing.T, base, extra string) string {
	t.Helper()
	var a, b map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(base), &a))
	require.NoError(t, yaml.Unmarshal([]byte(extra), &b))
	out, err := yaml.Marshal(deepMerge(a, b))
	require.NoError(t, err)
	return string(out)
}

// deepMerge sets the keys of src over dst, recursing into mappings.
func deepMerge(dst, src map[string]any) map[string]any {
	if dst == nil {
		dst = map[string]any{}
	}
	for k, v := range src {
		sm, ok1 := v.(map[string]any)
		dm, ok2 := dst[k].(map[string]any)
		if ok1 && ok2 {
			dst[k] = deepMerge(dm, sm)
			continue
		}
		dst[k] = v
	}
	return dst
}

func TestLoadEnvOverrides(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		check func(t *testing.T, c *Config)
	}{
		{"scalar", []string{"SIDECAR_LISTEN=0.0.0.0:9000"}, func(t *testing.T, c *Config) {
			assert.Equal(t, "0.0.0.0:9000", c.Listen)
		}},
		{"nested duration", []string{"SIDECAR_SESSION__IDLE_TIMEOUT=45m"}, func(t *testing.T, c *Config) {
			assert.Equal(t, 45*time.Minute, c.Session.IdleTimeout)
		}},
		{"three levels, bool", []string{"SIDECAR_STORE__BOLT__NO_SYNC=true"}, func(t *testing.T, c *Config) {
			assert.True(t, c.Store.Bolt.NoSync)
		}},
		{"integer", []string{"SIDECAR_STORE__REDIS__DB=3", "SIDECAR_PROXY__MAX_IDLE_CONNS_PER_HOST=512"}, func(t *testing.T, c *Config) {
			assert.Equal(t, 3, c.Store.Redis.DB)
			assert.Equal(t, 512, c.Proxy.MaxIdleConnsPerHost)
		}},
		{"enum", []string{"SIDECAR_STORE__TYPE=redis"}, func(t *testing.T, c *Config) {
			assert.Equal(t, StoreRedis, c.Store.Type)
		}},
		{"list", []string{"SIDECAR_STORE__REDIS__ADDRS=a:1, b:2,,c:3"}, func(t *testing.T, c *Config) {
			assert.Equal(t, []string{"a:1", "b:2", "c:3"}, c.Store.Redis.Addrs)
		}},
		{"secrets list", []string{"SIDECAR_SESSION__SECRETS=" + testCookieSecret2 + "," + testCookieSecret}, func(t *testing.T, c *Config) {
			assert.Equal(t, []Secret{testCookieSecret2, testCookieSecret}, c.Session.Secrets)
		}},
		{"acme domains", []string{"SIDECAR_TLS__ACME__DOMAINS=app.example.com,www.example.com"}, func(t *testing.T, c *Config) {
			assert.Equal(t, []string{"app.example.com", "www.example.com"}, c.TLS.ACME.Domains)
		}},
		{"upstreams replace the file's list", []string{"SIDECAR_UPSTREAMS=app1=http://127.0.0.1:8081, app2=https://10.0.0.2:8443/base"}, func(t *testing.T, c *Config) {
			assert.Equal(t, []Upstream{
				{Name: "app1", URL: "http://127.0.0.1:8081", Weight: 1},
				{Name: "app2", URL: "https://10.0.0.2:8443/base", Weight: 1},
			}, c.Upstreams)
		}},
		{"upstream weights", []string{"SIDECAR_UPSTREAMS=app1=http://127.0.0.1:8081;weight=3,app2=http://127.0.0.1:8082/a;b;weight=2, app3=http://127.0.0.1:8083"}, func(t *testing.T, c *Config) {
			assert.Equal(t, []Upstream{
				{Name: "app1", URL: "http://127.0.0.1:8081", Weight: 3},
				{Name: "app2", URL: "http://127.0.0.1:8082/a;b", Weight: 2},
				{Name: "app3", URL: "http://127.0.0.1:8083", Weight: 1},
			}, c.Upstreams)
		}},
		{"pool keys", []string{
			"SIDECAR_PROXY__POLICY=least_conn",
			"SIDECAR_PROXY__HEALTH_CHECK__PATH=/healthz?deep=1",
			"SIDECAR_PROXY__HEALTH_CHECK__INTERVAL=10s",
			"SIDECAR_PROXY__PASSIVE__MAX_FAILS=5",
			"SIDECAR_PROXY__RETRY__BUFFER_BYTES=65536",
			"SIDECAR_SERVER__HANDOVER_SOCKET=/run/sidecar.sock",
			"SIDECAR_STORE__TYPE=redis", // a handover needs a store both processes can use
		}, func(t *testing.T, c *Config) {
			assert.Equal(t, proxy.LeastConn, c.Proxy.Policy)
			assert.Equal(t, "/healthz?deep=1", c.Proxy.HealthCheck.Path)
			assert.Equal(t, 10*time.Second, c.Proxy.HealthCheck.Interval)
			assert.Equal(t, 5, c.Proxy.Passive.MaxFails)
			assert.Equal(t, 65536, c.Proxy.Retry.BufferBytes)
			assert.Equal(t, "/run/sidecar.sock", c.Server.HandoverSocket)
		}},
		{"affinity routes", []string{
			"SIDECAR_UPSTREAMS=app1=http://127.0.0.1:8081,app2=http://127.0.0.1:8082",
			"SIDECAR_PROXY__AFFINITY__COOKIE=JSESSIONID",
			"SIDECAR_PROXY__AFFINITY__ROUTES=node1=app1, Node2 = app2,,",
		}, func(t *testing.T, c *Config) {
			assert.Equal(t, "JSESSIONID", c.Proxy.Affinity.Cookie)
			assert.Equal(t, map[string]string{"node1": "app1", "Node2": "app2"}, c.Proxy.Affinity.Routes, "values keep their case")
		}},
		{"map-mode route containing '='", []string{
			"SIDECAR_PROXY__AFFINITY__COOKIE=SERVERID",
			"SIDECAR_PROXY__AFFINITY__MODE=map",
			"SIDECAR_PROXY__AFFINITY__ROUTES=czE==app1",
		}, func(t *testing.T, c *Config) {
			assert.Equal(t, proxy.ValueMap, c.Proxy.Affinity.Mode)
			assert.Equal(t, map[string]string{"czE=": "app1"}, c.Proxy.Affinity.Routes)
		}},
		{"map-mode route containing '.'", []string{
			"SIDECAR_PROXY__AFFINITY__COOKIE=SERVERID",
			"SIDECAR_PROXY__AFFINITY__MODE=map",
			"SIDECAR_PROXY__AFFINITY__ROUTES=s1.example=app1",
		}, func(t *testing.T, c *Config) {
			assert.Equal(t, map[string]string{"s1.example": "app1"}, c.Proxy.Affinity.Routes)
		}},
		{"upstream URL with a query keeps its '='", []string{"SIDECAR_UPSTREAMS=app1=http://127.0.0.1:8081/?a=b"}, func(t *testing.T, c *Config) {
			assert.Equal(t, "http://127.0.0.1:8081/?a=b", c.Upstreams[0].URL)
		}},
		{"lower-case name after the prefix", []string{"SIDECAR_session__max_bytes=100"}, func(t *testing.T, c *Config) {
			assert.Equal(t, 100, c.Session.MaxBytes)
		}},
		{"empty value clears a string", []string{"SIDECAR_STORE__REDIS__PREFIX="}, func(t *testing.T, c *Config) {
			assert.Equal(t, "", c.Store.Redis.Prefix)
		}},
		{"other variables are ignored", []string{"PATH=/bin", "SIDECARX=1", "HOME=/root", "NOEQUALS"}, func(t *testing.T, c *Config) {
			assert.Equal(t, "127.0.0.1:8080", c.Listen)
		}},
		{"last duplicate wins", []string{"SIDECAR_LOG__LEVEL=warn", "SIDECAR_LOG__LEVEL=debug"}, func(t *testing.T, c *Config) {
			assert.Equal(t, LogDebug, c.Log.Level)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, "sidecar.yaml", minimalYAML), tt.env)
			require.NoError(t, err)
			tt.check(t, cfg)
		})
	}
}

func TestLoadWithoutFile(t *testing.T) {
	cfg, err := Load("", []string{
		"SIDECAR_UPSTREAMS=app1=http://127.0.0.1:8081",
		"SIDECAR_SESSION__SECRETS=" + testCookieSecret,
		"SIDECAR_HEADERS__SECRET=" + testHeaderSecret,
	})
	require.NoError(t, err)
	want := validConfig()
	assert.Equal(t, &want, cfg)

	_, err = Load("", nil)
	require.Error(t, err)
	assert.ElementsMatch(t, []string{"upstreams", "session.secrets", "headers.secret"}, errorKeys(err))
}

func TestLoadFileErrors(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"), nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "nope.yaml")
	})
	t.Run("bad YAML", func(t *testing.T) {
		_, err := Load(writeFile(t, "bad.yaml", "listen: [\n"), nil)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "bad.yaml")
	})
	t.Run("empty file is all defaults", func(t *testing.T) {
		_, err := Load(writeFile(t, "empty.yaml", ""), nil)
		require.Error(t, err, "upstreams and secrets have no default")
		assert.ElementsMatch(t, []string{"upstreams", "session.secrets", "headers.secret"}, errorKeys(err))
	})
}
