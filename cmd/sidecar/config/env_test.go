package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLoadWarnsAboutUnknownEnvVars pins the bug where a SIDECAR_ variable
// that is not Sidecar's stopped it from starting: SIDECAR_HEADER_SECRET,
// an app's own name for the header secret (the kits read Sidecar's
// SIDECAR_HEADERS__SECRET), and SIDECAR_PORT, which Kubernetes injects for
// a Service named "sidecar". Such variables are
// skipped with a warning that names them and never shows their values.
func TestLoadWarnsAboutUnknownEnvVars(t *testing.T) {
	const value = "tcp://10.96.0.12:8080-a-value-that-must-not-be-echoed"
	tests := []struct {
		name string
		env  string
		want string
	}{
		{"an app's variable", "SIDECAR_HEADER_SECRET",
			"environment variable SIDECAR_HEADER_SECRET is ignored: it names no configuration key"},
		{"Kubernetes service link", "SIDECAR_PORT",
			"environment variable SIDECAR_PORT is ignored: it names no configuration key"},
		{"Kubernetes service host", "SIDECAR_SERVICE_HOST",
			"environment variable SIDECAR_SERVICE_HOST is ignored: it names no configuration key"},
		{"single underscores between levels", "SIDECAR_SESSION_IDLE_TIMEOUT",
			"environment variable SIDECAR_SESSION_IDLE_TIMEOUT is ignored: it names no configuration key (did you mean SIDECAR_SESSION__IDLE_TIMEOUT?)"},
		{"single underscores in a key with one", "SIDECAR_LOCK_SERVICE_LISTEN",
			"environment variable SIDECAR_LOCK_SERVICE_LISTEN is ignored: it names no configuration key (did you mean SIDECAR_LOCK_SERVICE__LISTEN?)"},
		{"typo in a key", "SIDECAR_SESSION__IDLE_TIMOUT",
			"environment variable SIDECAR_SESSION__IDLE_TIMOUT is ignored: it names no configuration key (did you mean SIDECAR_SESSION__IDLE_TIMEOUT?)"},
		{"typo in a section", "SIDECAR_SESION__X",
			"environment variable SIDECAR_SESION__X is ignored: it names no configuration key (did you mean SIDECAR_SESSION__X?)"},
		{"empty level", "SIDECAR_SESSION____X",
			`environment variable SIDECAR_SESSION____X is ignored: it names no configuration key (levels are separated by "__", e.g. SIDECAR_SESSION__IDLE_TIMEOUT)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, "sidecar.yaml", minimalYAML), []string{tt.env + "=" + value})
			require.NoError(t, err, "a variable that names no key does not stop Sidecar")
			assert.Equal(t, []string{tt.want}, cfg.Warnings())
			assert.Equal(t, validConfig().String(), cfg.String(), "the variable changes nothing")
		})
	}
}

func TestLoadEnvWarningsAreSortedAndKeysStillApply(t *testing.T) {
	cfg, err := Load(writeFile(t, "sidecar.yaml", minimalYAML), []string{
		"SIDECAR_PORT=tcp://10.0.0.1:8080",
		"SIDECAR_SESSION__IDLE_TIMEOUT=45m",
		"SIDECAR_HEADER_SECRET=" + testHeaderSecret,
	})
	require.NoError(t, err)
	assert.Equal(t, "45m0s", cfg.Session.IdleTimeout.String(), "a variable that names a key applies")
	w := cfg.Warnings()
	require.Len(t, w, 2)
	assert.Contains(t, w[0], "SIDECAR_HEADER_SECRET")
	assert.Contains(t, w[1], "SIDECAR_PORT")
	for _, line := range w {
		assert.NotContains(t, line, testHeaderSecret)
		assert.NotContains(t, line, "10.0.0.1")
	}
}

// TestLoadEnvErrorsThatStay: a variable that names a key keeps failing the
// load when its value does not fit the key or it cannot set the key that
// way, even next to variables that are only warned about.
func TestLoadEnvErrorsThatStay(t *testing.T) {
	tests := []struct {
		name, env, key, msg string
	}{
		{"bad duration", "SIDECAR_SESSION__IDLE_TIMEOUT=30x", "session.idle_timeout", `invalid duration "30x"`},
		{"a section is not a value", "SIDECAR_SESSION=x", "session", "is a section"},
		{"a value is not a section", "SIDECAR_LISTEN__PORT=80", "listen.port", "listen is a value, not a section"},
		{"one upstream field", "SIDECAR_UPSTREAMS__0__URL=http://x", "upstreams.0.url", "SIDECAR_UPSTREAMS=name=url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(writeFile(t, "sidecar.yaml", minimalYAML), []string{tt.env, "SIDECAR_PORT=tcp://10.0.0.1:8080"})
			require.Error(t, err)
			assert.Equal(t, []string{tt.key}, errorKeys(err))
			assert.Contains(t, err.Error(), tt.msg)
			assert.NotContains(t, err.Error(), "SIDECAR_PORT", "the unknown variable is not an error")
		})
	}
}
