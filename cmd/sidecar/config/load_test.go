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
			assert.Equal(t, PolicyLeastConn, c.Proxy.Policy)
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
				Mode:   AffinityMap,
				Routes: map[string]string{"node1": "app1", "node.2": "app1"},
			}, c.Proxy.Affinity, "a route may contain the key delimiter")
		}},
		{"empty routes", "proxy:\n  affinity:\n    routes: {}\n", func(t *testing.T, c *Config) {
			assert.Equal(t, map[string]string{}, c.Proxy.Affinity.Routes)
		}},
		{"handover socket", "server:\n  handover_socket: /run/sidecar/handover.sock\n", func(t *testing.T, c *Config) {
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
		}, func(t *testing.T, c *Config) {
			assert.Equal(t, PolicyLeastConn, c.Proxy.Policy)
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
			assert.Equal(t, AffinityMap, c.Proxy.Affinity.Mode)
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

func TestLoadUnknownKeys(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		env      []string
		wantKeys []string
		wantMsg  []string
	}{
		{
			name:     "file: typo in a nested key",
			yaml:     "session:\n  idle_timout: 45m\n",
			wantKeys: []string{"session.idle_timout"},
			wantMsg:  []string{"session.idle_timout: unknown key (did you mean session.idle_timeout?)"},
		},
		{
			name:     "file: unknown top-level key",
			yaml:     "sessions:\n  idle_timeout: 45m\n",
			wantKeys: []string{"sessions"},
			wantMsg:  []string{"sessions: unknown key (did you mean session?)"},
		},
		{
			name:     "file: unknown key far from any",
			yaml:     "store:\n  bolt:\n    compression: zstd\n",
			wantKeys: []string{"store.bolt.compression"},
			wantMsg:  []string{"store.bolt.compression: unknown key"},
		},
		{
			name:     "file: unknown key in an upstream",
			yaml:     "upstreams:\n  - name: app1\n    url: \"http://127.0.0.1:8081\"\n  - name: app2\n    ulr: \"http://127.0.0.1:8082\"\n",
			wantKeys: []string{"upstreams[1].ulr"},
			wantMsg:  []string{"upstreams[1].ulr: unknown key (did you mean upstreams[1].url?)"},
		},
		{
			name:     "file: every unknown key at once",
			yaml:     "lisen: x\nlog:\n  lvl: debug\n",
			wantKeys: []string{"lisen", "log.lvl"},
		},
		{
			name:     "env: typo in a section",
			env:      []string{"SIDECAR_SESION__X=1"},
			wantKeys: []string{"sesion.x"},
			wantMsg:  []string{"sesion.x: unknown key: there is no section sesion (did you mean session?) (from environment variable SIDECAR_SESION__X)"},
		},
		{
			name:     "env: typo in a key",
			env:      []string{"SIDECAR_SESSION__IDLE_TIMOUT=45m"},
			wantKeys: []string{"session.idle_timout"},
			wantMsg:  []string{"session.idle_timout: unknown key (did you mean session.idle_timeout?)"},
		},
		{
			name:     "env: single underscore between levels",
			env:      []string{"SIDECAR_SESSION_IDLE_TIMEOUT=45m"},
			wantKeys: []string{"session_idle_timeout"},
			wantMsg:  []string{"did you mean SIDECAR_SESSION__IDLE_TIMEOUT?"},
		},
		{
			name:     "env: a section is not a value",
			env:      []string{"SIDECAR_SESSION=x"},
			wantKeys: []string{"session"},
			wantMsg:  []string{"is a section"},
		},
		{
			name:     "env: a value is not a section",
			env:      []string{"SIDECAR_LISTEN__PORT=80"},
			wantKeys: []string{"listen.port"},
			wantMsg:  []string{"listen is a value, not a section"},
		},
		{
			name:     "env: one upstream field",
			env:      []string{"SIDECAR_UPSTREAMS__0__URL=http://x"},
			wantKeys: []string{"upstreams.0.url"},
			wantMsg:  []string{"SIDECAR_UPSTREAMS=name=url"},
		},
		{
			name:     "env: one route",
			env:      []string{"SIDECAR_PROXY__AFFINITY__ROUTES__NODE1=app1"},
			wantKeys: []string{"proxy.affinity.routes.node1"},
			wantMsg:  []string{"set the whole map as SIDECAR_PROXY__AFFINITY__ROUTES=route=upstream,..."},
		},
		{
			name:     "file: typo in a pool section",
			yaml:     "proxy:\n  health_check:\n    intervall: 5s\n  retry:\n    attempt: 2\n",
			wantKeys: []string{"proxy.health_check.intervall", "proxy.retry.attempt"},
			wantMsg: []string{
				"proxy.health_check.intervall: unknown key (did you mean proxy.health_check.interval?)",
				"proxy.retry.attempt: unknown key (did you mean proxy.retry.attempts?)",
			},
		},
		{
			name:     "file: route keys are data, not keys",
			yaml:     "upstreams:\n  - {name: app1, url: \"http://127.0.0.1:8081\", wieght: 2}\nproxy:\n  affinity:\n    routes: {anything: app1}\n",
			wantKeys: []string{"upstreams[0].wieght"},
			wantMsg:  []string{"(did you mean upstreams[0].weight?)"},
		},
		{
			name:     "env: empty level",
			env:      []string{"SIDECAR_SESSION____X=1", "SIDECAR_=1"},
			wantKeys: []string{"SIDECAR_SESSION____X", "SIDECAR_"},
		},
		{
			name:     "file and env together",
			yaml:     "log:\n  lvl: debug\n",
			env:      []string{"SIDECAR_LOG__LVL=debug"},
			wantKeys: []string{"log.lvl", "log.lvl"},
			wantMsg:  []string{"from environment variable SIDECAR_LOG__LVL"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yamlDoc := minimalYAML
			if tt.yaml != "" {
				yamlDoc = merge(t, minimalYAML, tt.yaml)
			}
			_, err := Load(writeFile(t, "sidecar.yaml", yamlDoc), tt.env)
			require.Error(t, err)
			assert.Equal(t, tt.wantKeys, errorKeys(err))
			for _, m := range tt.wantMsg {
				assert.Contains(t, err.Error(), m)
			}
		})
	}
}

func TestLoadTypeErrors(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     []string
		wantKey string
		wantMsg string
	}{
		{"string for an integer", "session:\n  max_bytes: lots\n", nil,
			"session.max_bytes", "session.max_bytes: expected an integer, got a string"},
		{"quoted integer", "session:\n  max_bytes: \"8192\"\n", nil,
			"session.max_bytes", "expected an integer, got a string"},
		{"fraction for an integer", "session:\n  max_bytes: 1.5\n", nil,
			"session.max_bytes", "expected an integer, got 1.5"},
		{"bad duration", "session:\n  idle_timeout: 30x\n", nil,
			"session.idle_timeout", `session.idle_timeout: invalid duration "30x"`},
		{"bare number for a duration", "server:\n  idle_timeout: 120\n", nil,
			"server.idle_timeout", `expected a duration such as "30s"`},
		{"number for a string", "session:\n  cookie_name: 42\n", nil,
			"session.cookie_name", "expected a string, got an integer (quote the value)"},
		{"bool for a string", "log:\n  level: true\n", nil,
			"log.level", "expected a string, got true or false"},
		{"string for a bool", "session:\n  strip_cookie: nope\n", nil,
			"session.strip_cookie", "expected true or false, got a string"},
		{"scalar for a list", "store:\n  redis:\n    addrs: \"a:1\"\n", nil,
			"store.redis.addrs", "store.redis.addrs:"},
		{"wrong type in a list", "store:\n  redis:\n    addrs: [\"a:1\", 6379]\n", nil,
			"store.redis.addrs[1]", "expected a string, got an integer"},
		{"scalar for a section", "session: on\n", nil,
			"session", "session:"},
		{"scalar for the upstream list", "upstreams: app1\n", nil,
			"upstreams", "upstreams:"},
		{"env: bad duration", "", []string{"SIDECAR_SESSION__IDLE_TIMEOUT=30x"},
			"session.idle_timeout", `session.idle_timeout: invalid duration "30x" (from environment variable SIDECAR_SESSION__IDLE_TIMEOUT)`},
		{"env: bad integer", "", []string{"SIDECAR_STORE__REDIS__DB=one"},
			"store.redis.db", `invalid integer "one"`},
		{"env: bad bool", "", []string{"SIDECAR_SESSION__STRIP_COOKIE=maybe"},
			"session.strip_cookie", `invalid boolean "maybe"`},
		{"env: bad upstream entry", "", []string{"SIDECAR_UPSTREAMS=app1=http://127.0.0.1:8081,app2"},
			"upstreams", "entry 2 is not name=url"},
		{"env: bad upstream weight", "", []string{"SIDECAR_UPSTREAMS=app1=http://127.0.0.1:8081;weight=heavy"},
			"upstreams", `entry 1: the weight after ";weight=" is not an integer`},
		{"fraction for a weight", "upstreams:\n  - {name: app1, url: \"http://127.0.0.1:8081\", weight: 1.5}\n", nil,
			"upstreams[0].weight", "expected an integer, got 1.5"},
		{"quoted weight", "upstreams:\n  - {name: app1, url: \"http://127.0.0.1:8081\", weight: \"2\"}\n", nil,
			"upstreams[0].weight", "expected an integer, got a string"},
		{"number for a route target", "proxy:\n  affinity:\n    routes: {node1: 1}\n", nil,
			"proxy.affinity.routes.node1", "proxy.affinity.routes.node1: expected a string, got an integer (quote the value)"},
		{"mapping for a route target", "proxy:\n  affinity:\n    routes: {node1: {upstream: app1}}\n", nil,
			"proxy.affinity.routes.node1", "proxy.affinity.routes.node1: expected a string, got a mapping"},
		{"list for the routes", "proxy:\n  affinity:\n    routes: [app1]\n", nil,
			"proxy.affinity.routes", "proxy.affinity.routes: expected a mapping, got a list"},
		{"scalar for the routes", "proxy:\n  affinity:\n    routes: app1\n", nil,
			"proxy.affinity.routes", "proxy.affinity.routes: expected a mapping, got a string"},
		{"scalar for an upstream", "upstreams: [app1]\n", nil,
			"upstreams[0]", "upstreams[0]: expected a mapping with name, url and weight, got a string"},
		{"env: bad route entry", "", []string{"SIDECAR_PROXY__AFFINITY__ROUTES=node1=app1,node2"},
			"proxy.affinity.routes", "entry 2 is not route=upstream (expected e.g. node1=app1,node2=app2) (from environment variable SIDECAR_PROXY__AFFINITY__ROUTES)"},
		{"env: repeated route", "", []string{"SIDECAR_PROXY__AFFINITY__ROUTES=node1=app1,node1=app2"},
			"proxy.affinity.routes", `entry 2 repeats the route "node1"`},
		{"env: bad integer in a pool section", "", []string{"SIDECAR_PROXY__RETRY__ATTEMPTS=three"},
			"proxy.retry.attempts", `invalid integer "three"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yamlDoc := minimalYAML
			if tt.yaml != "" {
				yamlDoc = merge(t, minimalYAML, tt.yaml)
			}
			_, err := Load(writeFile(t, "sidecar.yaml", yamlDoc), tt.env)
			require.Error(t, err)
			assert.Equal(t, []string{tt.wantKey}, errorKeys(err))
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
}

func TestLoadReportsKeyAndTypeErrorsTogether(t *testing.T) {
	yamlDoc := merge(t, minimalYAML, "server: 3\nsession:\n  idle_timout: 1m\n  max_bytes: x\nlog:\n  level: true\n")
	_, err := Load(writeFile(t, "sidecar.yaml", yamlDoc), []string{"SIDECAR_STORE__DB=1"})
	require.Error(t, err)
	assert.ElementsMatch(t, []string{"server", "session.idle_timout", "store.db", "session.max_bytes", "log.level"}, errorKeys(err))
}

func TestLoadSecretFiles(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		return path
	}
	secretsFile := file("secrets", "# current\n"+testCookieSecret2+"\n\n  "+testCookieSecret+"  \r\n# old ones above\n")
	headerFile := file("header", testHeaderSecret+"\n")
	tokenFile := file("token", testAdminToken+"\n")
	passwordFile := file("password", "p@ss word\n")
	emptyFile := file("empty", "\n# nothing\n")
	blankFile := file("blank", "\n \n")
	base := "upstreams: [{name: app1, url: \"http://127.0.0.1:8081\"}]\n"

	t.Run("all four files", func(t *testing.T) {
		cfg, err := Load(writeFile(t, "s.yaml", base), []string{
			"SIDECAR_SESSION__SECRETS_FILE=" + secretsFile,
			"SIDECAR_HEADERS__SECRET_FILE=" + headerFile,
			"SIDECAR_ADMIN__LISTEN=127.0.0.1:9090",
			"SIDECAR_ADMIN__TOKEN_FILE=" + tokenFile,
			"SIDECAR_STORE__REDIS__PASSWORD_FILE=" + passwordFile,
		})
		require.NoError(t, err)
		assert.Equal(t, []Secret{testCookieSecret2, testCookieSecret}, cfg.Session.Secrets)
		assert.Equal(t, Secret(testHeaderSecret), cfg.Headers.Secret)
		assert.Equal(t, Secret(testAdminToken), cfg.Admin.Token)
		assert.Equal(t, Secret("p@ss word"), cfg.Store.Redis.Password)
		assert.Equal(t, secretsFile, cfg.Session.SecretsFile, "the file key is kept")
	})

	tests := []struct {
		name     string
		yaml     string
		env      []string
		wantKeys []string
		wantMsg  string
	}{
		{"secret and file", minimalYAML, []string{"SIDECAR_HEADERS__SECRET_FILE=" + headerFile},
			[]string{"headers.secret_file"}, "headers.secret_file: cannot be used together with headers.secret"},
		{"secrets and file", minimalYAML, []string{"SIDECAR_SESSION__SECRETS_FILE=" + secretsFile},
			[]string{"session.secrets_file"}, "session.secrets_file: cannot be used together with session.secrets"},
		{"emptied inline secrets make room for the files", minimalYAML, []string{
			"SIDECAR_SESSION__SECRETS=", "SIDECAR_SESSION__SECRETS_FILE=" + secretsFile,
			"SIDECAR_HEADERS__SECRET=", "SIDECAR_HEADERS__SECRET_FILE=" + headerFile,
		}, nil, ""},
		{"token and file", minimalYAML, []string{"SIDECAR_ADMIN__TOKEN=" + testAdminToken, "SIDECAR_ADMIN__TOKEN_FILE=" + tokenFile},
			[]string{"admin.token_file"}, "admin.token_file: cannot be used together with admin.token"},
		{"password and file", minimalYAML, []string{"SIDECAR_STORE__REDIS__PASSWORD=x", "SIDECAR_STORE__REDIS__PASSWORD_FILE=" + passwordFile},
			[]string{"store.redis.password_file"}, "store.redis.password_file: cannot be used together with store.redis.password"},
		{"missing file", base, []string{
			"SIDECAR_SESSION__SECRETS_FILE=" + filepath.Join(dir, "missing"),
			"SIDECAR_HEADERS__SECRET_FILE=" + filepath.Join(dir, "missing"),
		}, []string{"session.secrets_file", "headers.secret_file"}, "no such file or directory"},
		{"file without a secret", base, []string{
			"SIDECAR_SESSION__SECRETS_FILE=" + emptyFile,
			"SIDECAR_HEADERS__SECRET_FILE=" + blankFile,
		}, []string{"session.secrets_file", "headers.secret_file"}, "holds no secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, "s.yaml", tt.yaml), tt.env)
			if tt.wantKeys == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.wantKeys, errorKeys(err))
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}

	t.Run("short secret from a file is validated", func(t *testing.T) {
		short := file("short", "tooshort\n")
		_, err := Load(writeFile(t, "s.yaml", base), []string{
			"SIDECAR_SESSION__SECRETS_FILE=" + secretsFile,
			"SIDECAR_HEADERS__SECRET_FILE=" + short,
		})
		require.Error(t, err)
		assert.Equal(t, "headers.secret: must be at least 32 bytes (got 8)", err.Error())
	})
}

// TestLoadNeverPrintsSecrets feeds secret values to every path that can
// fail and checks that no error text contains them.
func TestLoadNeverPrintsSecrets(t *testing.T) {
	const marker = "SeCrEt-MaRkEr"
	long := marker + "-0123456789abcdefghijklmnop"
	tests := []struct {
		name string
		yaml string
		env  []string
	}{
		{"short session secret", "session:\n  secrets: [\"" + marker + "\"]\n", nil},
		{"short header secret", "headers:\n  secret: \"" + marker + "\"\n", nil},
		{"header secret equals a session secret", "session:\n  secrets: [\"" + long + "\"]\nheaders:\n  secret: \"" + long + "\"\n", nil},
		{"short admin token", "admin:\n  listen: \"127.0.0.1:9090\"\n  token: \"" + marker + "\"\n", nil},
		{"secret of the wrong type", "headers:\n  secret: [\"" + marker + "\"]\n", nil},
		{"secret list of the wrong type", "session:\n  secrets: {" + marker + ": 1}\n", nil},
		{"numeric secret", "headers:\n  secret: 12345678901234567890\n", nil},
		{"secret given twice", "", []string{"SIDECAR_HEADERS__SECRET_FILE=/nonexistent", "SIDECAR_HEADERS__SECRET=" + long}},
		{"short secrets from env", "", []string{"SIDECAR_SESSION__SECRETS=" + marker + "," + marker + "2"}},
		{"password in an upstream URL", "upstreams: [{name: a, url: \"http://user:" + marker + "@127.0.0.1\"}]\n", nil},
		{"password in a broken upstream URL", "upstreams: [{name: a, url: \"http://user:" + marker + "@127.0.0.1:port\"}]\n", nil},
		{"password in an env upstream", "", []string{"SIDECAR_UPSTREAMS=a=http://u:" + marker + "@h,b"}},
		{"secret under an unknown key", "headers:\n  secrett: \"" + marker + "\"\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yamlDoc := minimalYAML
			if tt.yaml != "" {
				yamlDoc = merge(t, minimalYAML, tt.yaml)
			}
			_, err := Load(writeFile(t, "sidecar.yaml", yamlDoc), tt.env)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), marker)
			assert.NotContains(t, err.Error(), "12345678901234567890")
		})
	}
}
