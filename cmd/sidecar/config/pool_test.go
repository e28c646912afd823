package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Loading the keys of the upstream pool; their validation rules are in
// TestValidateRules.

// TestLoadEnvReplacesFileMap pins that SIDECAR_PROXY__AFFINITY__ROUTES
// replaces the file's routes, as SIDECAR_UPSTREAMS replaces its list,
// instead of merging with them (which would make a route impossible to
// remove from the environment).
func TestLoadEnvReplacesFileMap(t *testing.T) {
	fileYAML := merge(t, minimalYAML, `
upstreams:
  - {name: app1, url: "http://127.0.0.1:8081"}
  - {name: app2, url: "http://127.0.0.1:8082"}
proxy:
  affinity:
    cookie: JSESSIONID
    routes: {node1: app1, node2: app2}
`)
	tests := []struct {
		name string
		env  []string
		want map[string]string
	}{
		{"no variable keeps the file's", nil, map[string]string{"node1": "app1", "node2": "app2"}},
		{"variable replaces the file's", []string{"SIDECAR_PROXY__AFFINITY__ROUTES=node3=app1"}, map[string]string{"node3": "app1"}},
		{"empty variable clears them", []string{"SIDECAR_PROXY__AFFINITY__ROUTES="}, map[string]string{}},
		{"a sibling from the environment keeps them", []string{"SIDECAR_PROXY__AFFINITY__MODE=map"}, map[string]string{"node1": "app1", "node2": "app2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Load(writeFile(t, "sidecar.yaml", fileYAML), tt.env)
			require.NoError(t, err)
			assert.Equal(t, tt.want, cfg.Proxy.Affinity.Routes)
			assert.Equal(t, "JSESSIONID", cfg.Proxy.Affinity.Cookie, "the rest of the section is merged")
		})
	}
}

// TestLoadUpstreamWeight pins that an absent weight is 1 while an explicit
// 0 is refused, in the file and in the environment.
func TestLoadUpstreamWeight(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		env     []string
		want    []int
		wantErr string
	}{
		{"absent", "upstreams:\n  - {name: a, url: \"http://127.0.0.1:1\"}\n", nil, []int{1}, ""},
		{"null", "upstreams:\n  - {name: a, url: \"http://127.0.0.1:1\", weight: }\n", nil, []int{1}, ""},
		{"set", "upstreams:\n  - {name: a, url: \"http://127.0.0.1:1\", weight: 7}\n", nil, []int{7}, ""},
		{"zero in the file", "upstreams:\n  - {name: a, url: \"http://127.0.0.1:1\"}\n  - {name: b, url: \"http://127.0.0.1:2\", weight: 0}\n", nil,
			nil, "upstreams[1].weight: must be at least 1 (got 0)"},
		{"absent in the environment", "", []string{"SIDECAR_UPSTREAMS=a=http://127.0.0.1:1,b=http://127.0.0.1:2"}, []int{1, 1}, ""},
		{"environment list longer than the file's", "upstreams:\n  - {name: a, url: \"http://127.0.0.1:1\", weight: 4}\n",
			[]string{"SIDECAR_UPSTREAMS=a=http://127.0.0.1:1,b=http://127.0.0.1:2;weight=2,c=http://127.0.0.1:3"}, []int{1, 2, 1}, ""},
		{"zero in the environment", "", []string{"SIDECAR_UPSTREAMS=a=http://127.0.0.1:1;weight=0"},
			nil, "upstreams[0].weight: must be at least 1 (got 0)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yamlDoc := minimalYAML
			if tt.yaml != "" {
				yamlDoc = merge(t, minimalYAML, tt.yaml)
			}
			cfg, err := Load(writeFile(t, "sidecar.yaml", yamlDoc), tt.env)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Equal(t, tt.wantErr, err.Error())
				return
			}
			require.NoError(t, err)
			var got []int
			for _, u := range cfg.Upstreams {
				got = append(got, u.Weight)
			}
			assert.Equal(t, tt.want, got)
		})
	}
}

// TestRetryBufferZeroBuffersNothing pins the bug where
// proxy.retry.buffer_bytes: 0, documented as "buffer nothing", reached the
// proxy as its zero value and so buffered the library default of 1 MiB.
func TestRetryBufferZeroBuffersNothing(t *testing.T) {
	for name, tc := range map[string]struct {
		config int
		want   int64
	}{
		"zero buffers nothing": {0, -1},
		"default":              {Default().Proxy.Retry.BufferBytes, int64(Default().Proxy.Retry.BufferBytes)},
		"set":                  {65536, 65536},
	} {
		t.Run(name, func(t *testing.T) {
			c := Default()
			c.Proxy.Retry.BufferBytes = tc.config
			o, err := c.PoolOptions()
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
		"default":        {Default().Proxy.Passive.MaxEjectionPercent, Default().Proxy.PanicThreshold, 50, 50},
		"set":            {100, 10, 100, 10},
	} {
		t.Run(name, func(t *testing.T) {
			c := Default()
			c.Proxy.Passive.MaxEjectionPercent, c.Proxy.PanicThreshold = tc.ejection, tc.panic
			c.Proxy.Passive.BaseEjection = 3 * time.Second
			o, err := c.PoolOptions()
			require.NoError(t, err)
			assert.Equal(t, tc.wantEjection, o.Passive.MaxEjectionPercent)
			assert.Equal(t, tc.wantPanic, o.PanicThreshold)
			assert.Equal(t, 3*time.Second, o.Passive.BaseEjection)
			assert.Equal(t, c.Proxy.Passive.Cooldown, o.Passive.Cooldown)
		})
	}
}
