package app

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
)

// TestRetryBufferZeroBuffersNothing pins the bug where
// proxy.retry.buffer_bytes: 0, documented as "buffer nothing", reached the
// proxy as its zero value and so buffered the library default of 1 MiB.
func TestRetryBufferZeroBuffersNothing(t *testing.T) {
	for name, tc := range map[string]struct {
		config int
		want   int64
	}{
		"zero buffers nothing": {0, -1},
		"default":              {config.Default().Proxy.Retry.BufferBytes, int64(config.Default().Proxy.Retry.BufferBytes)},
		"set":                  {65536, 65536},
	} {
		t.Run(name, func(t *testing.T) {
			c := config.Default()
			c.Proxy.Retry.BufferBytes = tc.config
			o, err := poolOptions(&c)
			require.NoError(t, err)
			assert.Equal(t, tc.want, o.Retry.BufferBytes)
		})
	}
}

// TestOutlierKnobs: the config's 0 turns the ejection cap and panic mode
// off, where the library's 0 would mean its default of 50.
func TestOutlierKnobs(t *testing.T) {
	for name, tc := range map[string]struct {
		ejection, panic         int
		wantEjection, wantPanic int
	}{
		"zero turns off": {0, 0, -1, -1},
		"default":        {config.Default().Proxy.Passive.MaxEjectionPercent, config.Default().Proxy.PanicThreshold, 50, 50},
		"set":            {100, 10, 100, 10},
	} {
		t.Run(name, func(t *testing.T) {
			c := config.Default()
			c.Proxy.Passive.MaxEjectionPercent, c.Proxy.PanicThreshold = tc.ejection, tc.panic
			c.Proxy.Passive.BaseEjection = 3 * time.Second
			o, err := poolOptions(&c)
			require.NoError(t, err)
			assert.Equal(t, tc.wantEjection, o.Passive.MaxEjectionPercent)
			assert.Equal(t, tc.wantPanic, o.PanicThreshold)
			assert.Equal(t, 3*time.Second, o.Passive.BaseEjection)
			assert.Equal(t, c.Proxy.Passive.Cooldown, o.Passive.Cooldown)
		})
	}
}
