package config

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/sidecarproxy/sidecar/httpauth"
)

func TestAuthFailuresLimits(t *testing.T) {
	assert.Equal(t, httpauth.Limits{MaxFailures: 10, Window: time.Minute, Lockout: time.Minute, LogBurst: 5},
		Default().AuthFailures.Limits())
	off := AuthFailuresConfig{Window: time.Second, Lockout: 2 * time.Second}
	assert.Equal(t, httpauth.Limits{MaxFailures: -1, Window: time.Second, Lockout: 2 * time.Second, LogBurst: -1}, off.Limits(),
		"0 in the config (never, none) is negative for httpauth, whose 0 is its default")
}
