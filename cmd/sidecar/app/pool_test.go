package app

import (
	"testing"

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
