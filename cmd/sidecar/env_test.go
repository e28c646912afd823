package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestCheckWarnsAboutForeignEnvVars pins the bug where SIDECAR_HEADER_SECRET
// (an app's own name for the header secret) or Kubernetes' SIDECAR_PORT in
// a shared environment made `sidecar check` and `serve` refuse the config:
// they are warnings naming the variable, and the config is valid.
func TestCheckWarnsAboutForeignEnvVars(t *testing.T) {
	t.Setenv("SIDECAR_HEADER_SECRET", testHeaderSecret)
	t.Setenv("SIDECAR_PORT", "tcp://10.96.0.12:8080")
	t.Setenv("SIDECAR_SESSION_IDLE_TIMEOUT", "45m")
	code, stdout, stderr := runCheck(t, checkConfig("store:\n  type: memory\n"))
	assert.Equal(t, 0, code, "stderr: %s", stderr)
	assert.Contains(t, stdout, "is valid")
	assert.Contains(t, stderr, "sidecar: warning: environment variable SIDECAR_HEADER_SECRET is ignored: it names no configuration key\n")
	assert.Contains(t, stderr, "sidecar: warning: environment variable SIDECAR_PORT is ignored")
	assert.Contains(t, stderr, "SIDECAR_SESSION_IDLE_TIMEOUT is ignored: it names no configuration key (did you mean SIDECAR_SESSION__IDLE_TIMEOUT?)")
	assert.NotContains(t, stderr, testHeaderSecret)
	assert.NotContains(t, stderr, "10.96.0.12")
}

// TestCheckRefusesABadValueFromTheEnvironment: a variable that names a key
// is Sidecar's, and a bad value in it stays an error.
func TestCheckRefusesABadValueFromTheEnvironment(t *testing.T) {
	t.Setenv("SIDECAR_SESSION__IDLE_TIMEOUT", "soon")
	code, _, stderr := runCheck(t, checkConfig("store:\n  type: memory\n"))
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, `session.idle_timeout: invalid duration "soon" (from environment variable SIDECAR_SESSION__IDLE_TIMEOUT)`)
}
