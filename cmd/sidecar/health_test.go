package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHealthCommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	cfgWith := func(extra string) string {
		p := filepath.Join(t.TempDir(), "sidecar.yaml")
		require.NoError(t, os.WriteFile(p, []byte(checkConfig(extra)), 0o600))
		return p
	}
	on, off := cfgWith("ops:\n  listen: \""+addr+"\"\n"), cfgWith("")

	tests := []struct {
		name    string
		args    []string
		environ []string
		code    int
		out     string // in stdout (code 0) or stderr
	}{
		{"config", []string{"--config", on}, nil, 0, "healthy: GET " + srv.URL + "/healthz answered 200"},
		{"url", []string{"--url", srv.URL}, nil, 0, "healthy"},
		{"host:port", []string{"--url", addr}, nil, 0, "healthy"},
		{"readyz", []string{"--url", srv.URL + "/readyz"}, nil, 1, "unhealthy: GET " + srv.URL + "/readyz: 503 Service Unavailable: not ready"},
		{"ops off explains", []string{"--config", off}, nil, 1,
			"ops.listen is off, yet sidecar health needs /healthz, /readyz or /metrics there: set ops.listen (in " + off + " or SIDECAR_OPS__LISTEN)"},
		{"ops off, the image's need named", []string{"--config", off}, []string{"SIDECAR_OPS__NEEDED_BY=the image's HEALTHCHECK"}, 1,
			"ops.listen is off, yet the image's HEALTHCHECK needs"},
		{"the environment moves it", []string{"--config", off}, []string{"SIDECAR_OPS__LISTEN=" + addr}, 0, "healthy"},
		{"the environment turns it off", []string{"--config", on}, []string{"SIDECAR_OPS__LISTEN="}, 1, "ops.listen is off"},
		{"missing config", []string{"--config", filepath.Join(t.TempDir(), "none.yaml")}, nil, 1, "loading config file"},
		{"neither", nil, nil, 2, "give --config FILE or --url URL"},
		{"both", []string{"--config", on, "--url", srv.URL}, nil, 2, "give --config FILE or --url URL"},
		{"stray argument", []string{"--url", srv.URL, "now"}, nil, 2, "usage:"},
		{"bad url", []string{"--url", "9100"}, nil, 2, `probe address "9100"`},
		{"help", []string{"--help"}, nil, 0, "usage: sidecar health"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := runHealth(tt.args, &stdout, &stderr, tt.environ)
			assert.Equal(t, tt.code, code, "stdout: %s\nstderr: %s", &stdout, &stderr)
			if tt.code == 0 {
				assert.Contains(t, stdout.String(), tt.out)
				assert.Empty(t, stderr.String())
			} else {
				assert.Contains(t, stderr.String(), tt.out)
			}
		})
	}

	t.Run("nothing listening", func(t *testing.T) {
		srv.Close()
		var stdout, stderr bytes.Buffer
		assert.Equal(t, 1, run([]string{"health", "--config", on}, &stdout, &stderr), "dispatched by run")
		assert.Contains(t, stderr.String(), "sidecar health: unhealthy: GET "+srv.URL+"/healthz: ")
		assert.Contains(t, stderr.String(), "connection refused")
	})
}
