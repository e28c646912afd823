package proxy

import (
	"net/url"
	"testing"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnumValidate(t *testing.T) {
	tests := []struct {
		name    string
		err     error
		wantErr string
	}{
		{"policy round_robin", RoundRobin.Validate(), ""},
		{"policy least_conn", LeastConn.Validate(), ""},
		{"policy empty", Policy("").Validate(), `"" is not one of round_robin, least_conn`},
		{"policy unknown", Policy("random").Validate(), `"random" is not one of round_robin, least_conn`},
		{"affinity route_suffix", RouteSuffix.Validate(), ""},
		{"affinity map", ValueMap.Validate(), ""},
		{"affinity empty", AffinityMode("").Validate(), `"" is not one of route_suffix, map`},
		{"affinity unknown", AffinityMode("jvmRoute").Validate(), `"jvmRoute" is not one of route_suffix, map`},
		{"lock timeout reject", RejectOnTimeout.Validate(), ""},
		{"lock timeout proceed", ProceedOnTimeout.Validate(), ""},
		{"lock timeout empty", OnLockTimeout("").Validate(), `"" is not one of reject, proceed`},
		{"lock timeout unknown", OnLockTimeout("wait").Validate(), `"wait" is not one of reject, proceed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr == "" {
				assert.NoError(t, tt.err)
				return
			}
			assert.EqualError(t, tt.err, tt.wantErr)
		})
	}
}

// TestValidateZeroEnumIsDefault pins that the option structs read an
// empty enum as its default, although Validate refuses "", and wrap
// Validate's error for any other unknown value.
func TestValidateZeroEnumIsDefault(t *testing.T) {
	u, err := url.Parse("http://127.0.0.1:1")
	require.NoError(t, err)
	ups := []Upstream{{Name: "app1", URL: u}}

	pool := func(o PoolOptions) error {
		o.Upstreams = ups
		p, err := NewPool(o, nil, zerolog.Nop())
		if err == nil {
			require.NoError(t, p.Close())
		}
		return err
	}
	locking := func(o OnLockTimeout) error {
		_, err := Locking{OnTimeout: o}.withDefaults()
		return err
	}
	tests := []struct {
		name    string
		err     error
		wantErr string
	}{
		{"empty policy", pool(PoolOptions{}), ""},
		{"unknown policy", pool(PoolOptions{Policy: "random"}), `proxy: policy: "random" is not one of round_robin, least_conn`},
		{"empty affinity mode", pool(PoolOptions{Affinity: Affinity{Cookie: "JSESSIONID"}}), ""},
		{"unknown affinity mode", pool(PoolOptions{Affinity: Affinity{Cookie: "JSESSIONID", Mode: "jvmRoute"}}),
			`proxy: affinity mode: "jvmRoute" is not one of route_suffix, map`},
		{"empty lock timeout", locking(""), ""},
		{"unknown lock timeout", locking("wait"), `proxy: lock timeout behaviour: "wait" is not one of reject, proceed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.wantErr == "" {
				assert.NoError(t, tt.err)
				return
			}
			assert.EqualError(t, tt.err, tt.wantErr)
		})
	}

	l, err := Locking{}.withDefaults()
	require.NoError(t, err)
	assert.Equal(t, RejectOnTimeout, l.OnTimeout)
	assert.Equal(t, DefaultLockWait, l.Wait)
	assert.Equal(t, DefaultLockTTL, l.TTL)
}
