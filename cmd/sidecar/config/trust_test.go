package config

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTrustedProxiesFromFileAndEnvironment loads server.trusted_proxies
// from YAML and from SIDECAR_SERVER__TRUSTED_PROXIES, and checks what the
// proxy gets.
func TestTrustedProxiesFromFileAndEnvironment(t *testing.T) {
	path := writeFile(t, "sidecar.yaml", minimalYAML+"server:\n  trusted_proxies: [10.0.0.0/8, 192.0.2.7, \"fd00::/8\"]\n")
	c, err := Load(path, nil)
	require.NoError(t, err)
	assert.Equal(t, TrustedProxies{"10.0.0.0/8", "192.0.2.7", "fd00::/8"}, c.Server.TrustedProxies)
	var got []string
	for _, p := range c.Server.TrustedProxies.Prefixes() {
		got = append(got, p.String())
	}
	assert.Equal(t, []string{"10.0.0.0/8", "192.0.2.7/32", "fd00::/8"}, got)

	c, err = Load(path, []string{"SIDECAR_SERVER__TRUSTED_PROXIES=127.0.0.1, ::1"})
	require.NoError(t, err)
	assert.Equal(t, TrustedProxies{"127.0.0.1", "::1"}, c.Server.TrustedProxies)

	_, err = Load(path, []string{"SIDECAR_SERVER__TRUSTED_PROXIES=127.0.0.1,lb"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `server.trusted_proxies[1]: "lb" is neither a CIDR prefix nor an IP address`)
}

// TestTrustedProxiesTakeARestart: the proxy reads the list once, at
// start; a reload reports the change as needing a restart.
func TestTrustedProxiesTakeARestart(t *testing.T) {
	running, next := validConfig(), validConfig()
	next.Server.TrustedProxies = TrustedProxies{"10.0.0.0/8"}
	merged, applied, needRestart, err := running.Reload(next)
	require.NoError(t, err)
	assert.Empty(t, applied)
	assert.Equal(t, []string{"server.trusted_proxies"}, needRestart)
	assert.Empty(t, merged.Server.TrustedProxies, "the running list stays")
}
