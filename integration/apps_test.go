package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// appProc is one testapp process (see testapp/main.go) on a fixed port, so
// it can be stopped, killed and started again where Sidecar expects it.
// Its methods are for the test goroutine.
type appProc struct {
	t    testing.TB
	name string
	addr string // host:port, the same across restarts
	p    *proc  // the current (or last) process
	// args are extra testapp flags for every start (e.g. -lame-duck).
	args []string
	// reqLog is the -request-log file every process of this app appends to.
	reqLog string
	// starts counts the processes started, for names in output dumps.
	starts int
}

// startApp starts a testapp named name on a free port, with the extra
// flags args, and waits until it serves.
func startApp(t testing.TB, name string, args ...string) *appProc {
	t.Helper()
	a := &appProc{t: t, name: name, addr: freeAddr(t), args: args,
		reqLog: filepath.Join(t.TempDir(), name+".requests")}
	a.start()
	return a
}

// URL is the app's base URL, for Sidecar's upstreams.
func (a *appProc) URL() string { return "http://" + a.addr }

// start starts a new process on the app's port and waits until its
// /healthz answers.
func (a *appProc) start() {
	a.t.Helper()
	a.launch()
	waitHTTP(a.t, a.p, a.URL()+"/healthz")
}

// launch starts a new process on the app's port and returns at once, as
// `systemctl restart` does: with -listen-delay it is not listening yet.
func (a *appProc) launch() {
	a.t.Helper()
	require.Nil(a.t, a.runningProc(), "%s is already running", a.name)
	a.starts++
	a.p = startProc(a.t, fmt.Sprintf("%s#%d", a.name, a.starts),
		[]string{"SIDECAR_HEADER_SECRET=" + headerSecret},
		builtBinaries(a.t).testapp, append([]string{"-listen", a.addr, "-name", a.name, "-request-log", a.reqLog}, a.args...)...)
}

// stop sends SIGTERM and requires a graceful exit (status 0).
func (a *appProc) stop() {
	a.t.Helper()
	a.p.signal(syscall.SIGTERM)
	require.Equal(a.t, 0, a.p.wait(), "%s exit status after SIGTERM\n%s", a.name, a.p.dump())
}

// kill crashes the app with SIGKILL and waits for it to be gone.
func (a *appProc) kill() {
	a.t.Helper()
	a.p.signal(syscall.SIGKILL)
	a.p.wait()
}

func (a *appProc) runningProc() *proc {
	if a.p != nil && a.p.running() {
		return a.p
	}
	return nil
}

// appStats is a testapp's /stats.
type appStats struct {
	// Served counts the proxied requests the process has received.
	Served int64 `json:"served"`
	// Held counts the /hold requests waiting in it now.
	Held int64 `json:"held"`
}

// tryStats asks the running process for its /stats directly, not through
// Sidecar. It may run on any goroutine.
func (a *appProc) tryStats() (appStats, error) {
	var s appStats
	resp, err := http.Get(a.URL() + "/stats")
	if err != nil {
		return s, fmt.Errorf("%s /stats: %w", a.name, err)
	}
	defer drain(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return s, fmt.Errorf("%s /stats: status %d", a.name, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		return s, fmt.Errorf("%s /stats: %w", a.name, err)
	}
	return s, nil
}

// served is the number of proxied requests the running process has
// received.
func (a *appProc) served() int64 {
	a.t.Helper()
	s, err := a.tryStats()
	require.NoError(a.t, err)
	return s.Served
}

// release opens the /hold gate named gate in the running process: the
// requests waiting on it, and any later ones, are answered.
func (a *appProc) release(gate string) {
	a.t.Helper()
	resp, err := http.Post(a.URL()+"/release?gate="+gate, "", nil)
	require.NoError(a.t, err, "%s /release", a.name)
	drain(resp.Body)
	require.Equal(a.t, http.StatusOK, resp.StatusCode, "%s /release", a.name)
}

// waitStats waits until the running process's /stats satisfy cond; what
// names the condition for the failure message.
func (a *appProc) waitStats(what string, cond func(appStats) bool) {
	a.t.Helper()
	waitUntil(a.t, a.name+" "+what, func() (bool, string) {
		s, err := a.tryStats()
		return err == nil && cond(s), fmt.Sprintf("/stats %+v, error %v", s, err)
	})
}

// received reports whether any process of this app received the request
// with Sidecar's X-Request-Id rid, and how (e.g. "POST /set").
func (a *appProc) received(rid string) (string, bool) {
	a.t.Helper()
	b, err := os.ReadFile(a.reqLog)
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	require.NoError(a.t, err)
	for _, line := range strings.Split(string(b), "\n") {
		if id, rest, ok := strings.Cut(line, " "); ok && id == rid {
			return rest, true
		}
	}
	return "", false
}

// waitServing waits until the running process has received at least n
// proxied requests: Sidecar is sending it traffic.
func (a *appProc) waitServing(n int64) {
	a.t.Helper()
	a.waitStats(fmt.Sprintf("receiving %d requests from Sidecar", n), func(s appStats) bool { return s.Served >= n })
}

// waitHTTP polls url until it answers 200, failing the test if p exits
// first or readyTimeout passes.
func waitHTTP(t testing.TB, p *proc, url string) {
	t.Helper()
	client := &http.Client{Timeout: time.Second}
	waitFor(t, p, "200 from "+url, func() bool {
		resp, err := client.Get(url)
		if err != nil {
			return false
		}
		drain(resp.Body)
		return resp.StatusCode == http.StatusOK
	})
}
