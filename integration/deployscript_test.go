package integration

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deployStep is the timeline of one app's turn in docs/rolling-deploy.sh,
// as the test saw it (to pollEvery).
type deployStep struct {
	app *appProc
	// draining: the script said "== NAME: draining".
	draining time.Time
	// asked: the restart command reached the test (the drain had
	// returned); stopping: the test had checked Sidecar's view of the app
	// and sent SIGTERM; stopped: the old process had exited; launched: the
	// new one had started (the command returned); listening: it had
	// logged that it listens.
	asked, stopping, stopped, launched, listening time.Time
	// undraining: the script said "== NAME: ... back in the pool"; end: it
	// went on to the next app (or said "== done"), undrain --wait-healthy
	// having returned.
	undraining, end time.Time
}

func (s deployStep) String() string {
	d := func(from, to time.Time) string {
		if from.IsZero() || to.IsZero() {
			return "?"
		}
		return to.Sub(from).Round(time.Millisecond).String()
	}
	return fmt.Sprintf("%s: drain %s, check %s, stop %s, start %s, listening %s after the start; undrain --wait-healthy %s (returned %s after the app listened); step %s",
		s.app.name, d(s.draining, s.asked), d(s.asked, s.stopping), d(s.stopping, s.stopped), d(s.stopped, s.launched), d(s.launched, s.listening),
		d(s.undraining, s.end), d(s.listening, s.end), d(s.draining, s.end))
}

// TestRollingDeployScript runs docs/rolling-deploy.sh, as an operator
// would, against three apps behind the sidecar binary on the shipped
// defaults: the config sets only what Sidecar needs to run and what the
// CLI needs (admin.listen, admin.token); no health check, no passive or
// retry tuning. Like a Tomcat under systemd, each app takes 1.5s to
// listen after a restart, and the script's RESTART returns as soon as the
// new process has started (see restartControl).
//
// Six clients read (GET) and write (POST) their sessions all along, and
// nothing may fail: the script drains each app before stopping it, so no
// request is on it or sent to it when it closes, and it waits for the
// restarted app to answer a probe before draining the next, so two apps
// are never out at once. Every app must serve again afterwards, and every
// session keep its last write.
//
// Undrain puts the app back in rotation before it listens (nothing tells
// Sidecar otherwise on these defaults): the few requests sent to it are
// refused and retried on another app, and two refusals eject it until a
// probe passes (after 1s, then 2s, ...). --wait-healthy waits for that
// readmission, so a step lasts about the listen delay plus up to one
// ejection period; the test logs each step's timeline and Sidecar's pool
// events.
func TestRollingDeployScript(t *testing.T) {
	const (
		listenDelay = 1500 * time.Millisecond
		// deployTimeout bounds the whole script run; the script's own
		// waits are bounded by DRAIN_TIMEOUT and HEALTHY_TIMEOUT (120s).
		deployTimeout = 3 * time.Minute
	)
	c := &cluster{}
	byName := map[string]*appProc{}
	for i := 1; i <= 3; i++ {
		a := startApp(t, fmt.Sprintf("app%d", i), "-listen-delay", listenDelay.String())
		c.apps = append(c.apps, a)
		byName[a.name] = a
	}
	spec := sidecarSpec{Set: map[string]any{"admin.listen": freeAddr(t), "admin.token": adminToken}} // nothing tuned
	for _, a := range c.apps {
		spec.Upstreams = append(spec.Upstreams, upstreamSpec{Name: a.name, URL: a.URL()})
	}
	c.sidecar = startSidecarProc(t, spec)
	ctl := startRestartControl(t)

	l := startLoad(t, c.sidecar.URL(), loadOptions{MaxTime: deployTimeout + time.Minute})
	l.progress(100)
	begin := time.Now()
	script := startProc(t, "rolling-deploy.sh",
		[]string{"SIDECAR=" + builtBinaries(t).sidecar, "RESTART=" + ctl.command},
		"bash", "../docs/rolling-deploy.sh", c.sidecar.cfgPath, "app1", "app2", "app3")

	var (
		steps   []*deployStep
		current *deployStep
		seen    int // bytes of the script's output already read
	)
	// readScript handles the script's new complete lines: each "== NAME:
	// draining" ends the previous step, whose app must listen by then.
	readScript := func() {
		out := script.out.String()[seen:]
		end := strings.LastIndexByte(out, '\n') + 1
		seen += end
		now := time.Now()
		noteListening := func() {
			if current != nil && !current.launched.IsZero() && current.listening.IsZero() && current.app.p.out.Count("listening on") > 0 {
				current.listening = now
			}
		}
		noteListening()
		for _, line := range strings.Split(out[:end], "\n") {
			rest, ok := strings.CutPrefix(line, "== ")
			if !ok {
				continue
			}
			name, what, _ := strings.Cut(rest, ": ")
			if what != "draining" && name != "done" {
				if strings.HasSuffix(what, "back in the pool") && current != nil {
					current.undraining = now
				}
				continue
			}
			if current != nil {
				noteListening()
				current.end = now
				conn, err := net.DialTimeout("tcp", current.app.addr, time.Second)
				if assert.NoError(t, err, "the script went on to %q while %s did not listen: undrain --wait-healthy returned too early", line, current.app.name) {
					conn.Close()
				}
				current = nil
			}
			if a := byName[name]; a != nil {
				current = &deployStep{app: a, draining: now}
				steps = append(steps, current)
			}
		}
	}

	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	deadline := time.After(deployTimeout)
	for running := true; running; {
		select {
		case req := <-ctl.requests:
			a := byName[req.name]
			if a == nil || current == nil || current.app != a {
				req.reply <- fmt.Sprintf("unexpected restart of %q", req.name)
				t.Errorf("the script asked to restart %q outside its step (current: %v)", req.name, current)
				continue
			}
			current.asked = time.Now()
			out, code := runSidecar(t, nil, "upstreams", "list", "--json", "--config", c.sidecar.cfgPath)
			require.Equal(t, 0, code, out)
			require.Equal(t, "draining", upstreamState(out, a.name), "the script restarts %s only once it is drained: %s", a.name, out)
			require.Zero(t, countInFlight(t, out, a.name), "the script restarts %s only once nothing is in flight on it: %s", a.name, out)
			current.stopping = time.Now()
			a.stop()
			current.stopped = time.Now()
			a.launch()
			current.launched = time.Now()
			req.reply <- fmt.Sprintf("started %s (pid %d)", a.name, a.p.cmd.Process.Pid)
		case <-script.exited:
			running = false
		case <-tick.C:
		case <-deadline:
			t.Fatalf("rolling-deploy.sh still running after %v\n%s", deployTimeout, script.dump())
		}
		readScript()
	}
	elapsed := time.Since(begin)
	for _, s := range steps {
		t.Logf("%s", s)
	}
	t.Logf("rolling-deploy.sh took %v, %d requests so far:\n%s", elapsed.Round(time.Millisecond), l.snapshot().Requests, script.out.String())
	require.Equal(t, 0, script.state.ExitCode(), "rolling-deploy.sh exit status\n%s", script.dump())
	require.Contains(t, script.out.String(), "== done", "rolling-deploy.sh finished every app")
	require.Len(t, steps, 3, "one step per app")

	for _, a := range c.apps {
		a.waitServing(20) // every restarted app is back in the pool
	}
	l.progress(100)
	stats := l.Stop()
	final := l.verifySessions()
	c.report(t, stats)
	t.Logf("failures by cause: %v", c.failureCauses(stats.Failures))
	for _, e := range c.sidecar.logEntries() {
		if e["log"] == "pool" { // drains, ejections, readmissions: what the step timings come from
			ejection := ""
			if ms, ok := e["ejection"].(float64); ok {
				ejection = fmt.Sprintf(" (%v)", time.Duration(ms)*time.Millisecond)
			}
			t.Logf("sidecar pool: %v: %v%s", e["upstream"], e["message"], ejection)
		}
	}

	assert.Empty(t, stats.Failures, "no request of any method may fail during a scripted rolling deploy")
	assert.Empty(t, final, "every session keeps its last write")
	c.sidecar.stop()
}
