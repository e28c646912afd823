package integration

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// The active health checks of poolSpec.
const (
	healthInterval     = 250 * time.Millisecond
	unhealthyThreshold = 2
)

// upstreamSpec is one entry of the config's upstreams list.
type upstreamSpec struct {
	Name   string
	URL    string
	Weight int // 0 leaves the key out (weight 1)
}

// sidecarSpec describes a config file for the sidecar binary.
type sidecarSpec struct {
	// Listen is the proxy's address; startSidecarProc picks a free port
	// when it is "".
	Listen    string
	Upstreams []upstreamSpec
	// Redis is the store.redis address; "" uses the memory store.
	Redis string
	// Set overrides or adds keys by their dotted path, applied last, e.g.
	// {"proxy.retry.attempts": 1, "server.handover_socket": "/run/x.sock"}.
	Set map[string]any
}

// poolSpec is the config of the process tests: Redis at redisAddr, the
// apps as upstreams (named after them), active checks on /healthz every
// 250ms (unhealthy after two failures, healthy after one pass), ejection
// after one failed request for 200ms, and retry defaults. The check
// timeout is the interval (it may not exceed it): long enough that a busy
// machine does not fail healthy apps, short enough that a restart is seen
// in well under a second.
func poolSpec(redisAddr string, apps ...*appProc) sidecarSpec {
	s := sidecarSpec{Redis: redisAddr, Set: map[string]any{
		"proxy.health_check.path":                "/healthz",
		"proxy.health_check.interval":            healthInterval.String(),
		"proxy.health_check.timeout":             healthInterval.String(),
		"proxy.health_check.healthy_threshold":   1,
		"proxy.health_check.unhealthy_threshold": unhealthyThreshold,
		"proxy.passive.max_fails":                1,
		"proxy.passive.cooldown":                 "200ms",
	}}
	for _, a := range apps {
		s.Upstreams = append(s.Upstreams, upstreamSpec{Name: a.name, URL: a.URL()})
	}
	return s
}

// yaml renders the spec as a config file.
func (s sidecarSpec) yaml(t testing.TB) string {
	t.Helper()
	ups := make([]map[string]any, len(s.Upstreams))
	for i, u := range s.Upstreams {
		ups[i] = map[string]any{"name": u.Name, "url": u.URL}
		if u.Weight != 0 {
			ups[i]["weight"] = u.Weight
		}
	}
	store := map[string]any{"type": "memory"}
	if s.Redis != "" {
		store = map[string]any{"type": "redis", "redis": map[string]any{"addrs": []string{s.Redis}}}
	}
	doc := map[string]any{
		"listen":    s.Listen,
		"upstreams": ups,
		"store":     store,
		"session":   map[string]any{"secrets": []string{cookieSecret}},
		"headers":   map[string]any{"secret": headerSecret},
		"server":    map[string]any{"shutdown_timeout": "10s"},
	}
	for key, v := range s.Set {
		m, parts := doc, strings.Split(key, ".")
		for _, p := range parts[:len(parts)-1] {
			next, ok := m[p].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[p] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	b, err := yaml.Marshal(doc)
	require.NoError(t, err)
	return string(b)
}

// sidecarProc is one running sidecar binary and its config file.
type sidecarProc struct {
	t       testing.TB
	addr    string // the proxy's host:port
	cfgPath string
	p       *proc
}

// startSidecarProc writes spec to a config file, runs `sidecar serve
// --config FILE` and waits until it logs that it is serving and accepts a
// connection. env is added to the process environment.
func startSidecarProc(t testing.TB, spec sidecarSpec, env ...string) *sidecarProc {
	t.Helper()
	if spec.Listen == "" {
		spec.Listen = freeAddr(t)
	}
	s := &sidecarProc{t: t, addr: spec.Listen, cfgPath: filepath.Join(t.TempDir(), "sidecar.yaml")}
	s.writeConfig(spec.yaml(t))
	s.p = startProc(t, "sidecar", env, builtBinaries(t).sidecar, "serve", "--config", s.cfgPath)
	s.p.quiet = quietLine
	waitFor(t, s.p, "sidecar serving", func() bool { return s.count("sidecar serving") > 0 })
	return s
}

// URL is the proxy's base URL.
func (s *sidecarProc) URL() string { return "http://" + s.addr }

// writeConfig replaces the config file in one rename, so a reload never
// reads half of it.
func (s *sidecarProc) writeConfig(body string) {
	s.t.Helper()
	tmp := s.cfgPath + ".tmp"
	require.NoError(s.t, os.WriteFile(tmp, []byte(body), 0o600))
	require.NoError(s.t, os.Rename(tmp, s.cfgPath))
}

// reload writes body as the config file, sends SIGHUP and waits for the
// outcome: it returns true when the config was reloaded and false when
// the reload was refused.
func (s *sidecarProc) reload(body string) bool {
	s.t.Helper()
	done, refused := s.count("config reloaded"), s.count("config reload refused")
	s.writeConfig(body)
	s.p.signal(syscall.SIGHUP)
	waitFor(s.t, s.p, "the outcome of SIGHUP", func() bool {
		return s.count("config reloaded") > done || s.count("config reload refused") > refused
	})
	return s.count("config reloaded") > done
}

// stop sends SIGTERM and requires a clean drain (exit status 0).
func (s *sidecarProc) stop() {
	s.t.Helper()
	s.p.signal(syscall.SIGTERM)
	require.Equal(s.t, 0, s.p.wait(), "sidecar exit status after SIGTERM\n%s", s.p.dump())
}

// logEntries parses the JSON log lines written so far.
func (s *sidecarProc) logEntries() []map[string]any {
	var out []map[string]any
	for _, line := range strings.Split(s.p.out.String(), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) == nil {
			out = append(out, e)
		}
	}
	return out
}

// count is the number of log entries whose message starts with msg.
func (s *sidecarProc) count(msg string) int {
	b, _ := json.Marshal(msg)
	return strings.Count(s.p.out.String(), `"message":`+strings.TrimSuffix(string(b), `"`))
}

// accessSummary totals Sidecar's access log.
type accessSummary struct {
	Requests   int
	ByStatus   map[int]int
	ByUpstream map[string]int
	// Retried counts requests that took more than one try.
	Retried int
	// Errors are the entries of failed requests.
	Errors []map[string]any
}

func (s *sidecarProc) access() accessSummary {
	sum := accessSummary{ByStatus: map[int]int{}, ByUpstream: map[string]int{}}
	for _, e := range s.logEntries() {
		if e["log"] != "access" {
			continue
		}
		sum.Requests++
		status, _ := e["status"].(float64)
		sum.ByStatus[int(status)]++
		up, _ := e["upstream"].(string)
		sum.ByUpstream[up]++
		if n, _ := e["attempts"].(float64); n > 1 {
			sum.Retried++
		}
		if _, ok := e["error"]; ok {
			sum.Errors = append(sum.Errors, e)
		}
	}
	return sum
}

// waitAccess waits until the access log has at least n entries, and
// returns its summary: a client has its answer before Sidecar writes the
// line for it.
func (s *sidecarProc) waitAccess(n int) accessSummary {
	s.t.Helper()
	var sum accessSummary
	waitUntil(s.t, fmt.Sprintf("%d access-log entries", n), func() (bool, string) {
		sum = s.access()
		return sum.Requests >= n, sum.String()
	})
	return sum
}

func (a accessSummary) String() string {
	return fmt.Sprintf("%d requests, by status %v, by upstream %v, %d retried on another upstream, %d errors",
		a.Requests, a.ByStatus, a.ByUpstream, a.Retried, len(a.Errors))
}
