package integration

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServeStartsBesideForeignEnvVars pins the bug where the real binary
// refused to start in an environment shared with an app
// (SIDECAR_HEADER_SECRET, an app's own name for the header secret) or made by
// Kubernetes for a Service named "sidecar" (SIDECAR_PORT=tcp://...,
// SIDECAR_SERVICE_HOST): it starts, serves, and logs one warning per
// variable, naming it and never its value.
func TestServeStartsBesideForeignEnvVars(t *testing.T) {
	app := startApp(t, "app1")
	foreign := map[string]string{
		"SIDECAR_HEADER_SECRET":      headerSecret,
		"SIDECAR_PORT":               "tcp://10.96.0.12:8080",
		"SIDECAR_PORT_8080_TCP_ADDR": "10.96.0.12",
		"SIDECAR_SERVICE_HOST":       "10.96.0.12",
	}
	var env []string
	for k, v := range foreign {
		env = append(env, k+"="+v)
	}
	sc := startSidecarProc(t, sidecarSpec{Upstreams: []upstreamSpec{{Name: app.name, URL: app.URL()}}}, env...)

	resp, err := http.Get(sc.URL() + "/whoami")
	require.NoError(t, err)
	drain(resp.Body)
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	warned := map[string]bool{}
	for _, e := range sc.logEntries() {
		msg, _ := e["message"].(string)
		for k := range foreign {
			if e["level"] == "warn" && strings.HasPrefix(msg, "environment variable "+k+" is ignored") {
				warned[k] = true
			}
		}
	}
	for k := range foreign {
		assert.True(t, warned[k], "a warning names %s", k)
	}
	out := sc.p.out.String()
	assert.NotContains(t, out, headerSecret)
	assert.NotContains(t, out, "10.96.0.12")
	sc.stop()
}
