package config

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
			// The variable is only a warning (env_test.go): the file's
			// typo is the error.
			name:     "file and env together",
			yaml:     "log:\n  lvl: debug\n",
			env:      []string{"SIDECAR_LOG__LVL=debug", "SIDECAR_LISTEN__PORT=80"},
			wantKeys: []string{"log.lvl", "listen.port"},
			wantMsg:  []string{"from environment variable SIDECAR_LISTEN__PORT"},
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
	_, err := Load(writeFile(t, "sidecar.yaml", yamlDoc), []string{"SIDECAR_STORE__TIMEOUT__X=1"})
	require.Error(t, err)
	assert.ElementsMatch(t, []string{"server", "session.idle_timout", "store.timeout.x", "session.max_bytes", "log.level"}, errorKeys(err))
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
