package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// The process harness: the sidecar binary and the test app (testapp/) are
// built once per test run into one temporary directory; tests start them
// as real processes on free ports, signal them, and read their output.
// Everything a test starts is killed by its t.Cleanup, and on Linux also by
// the kernel if the test binary dies (see sysProcAttr).
//
// The pieces, for tests to come (admin drain, listener hand-over):
//   - startApp / appProc (apps_test.go): a testapp on a fixed port; stop
//     (SIGTERM, exit 0), kill, start again, served, received; requests
//     held in it (/hold) until release, and waitStats for its counters.
//   - startSidecarProc / sidecarProc (sidecarproc_test.go): the binary
//     over a config written from a sidecarSpec, whose Set adds any key by
//     its dotted path ("admin.listen", "server.handover_socket"); reload
//     (rewrite + SIGHUP, reports applied or refused), stop, logEntries,
//     count, access. A second sidecarProc on the same spec.Listen is how a
//     hand-over test starts the successor.
//   - runSidecar: `sidecar ARGS...` as a command (check, or the admin CLI
//     such as `upstreams drain NAME`), returning output and exit code;
//     startSidecarCmd runs one in the background (a drain that blocks).
//   - startLoad (load_test.go): clients that each own a session and check
//     every read against their last write; Stop returns the totals and
//     verifySessions reads every session back.
//   - newCluster / cluster.report (rolling_test.go): Redis, N apps and a
//     Sidecar in one call, and the totals of a run in the test log.
//   - startRestartControl (restartctl_test.go): a RESTART command for
//     docs/rolling-deploy.sh whose restarts the test goroutine performs
//     with appProc.stop and launch (started, not yet listening).

const (
	// readyTimeout bounds every wait for a condition: a started process
	// serving, a request arriving, the load making progress. It only
	// matters when the condition never comes, so it is generous enough for
	// a busy 2-core machine running the race detector.
	readyTimeout = 30 * time.Second
	// exitTimeout bounds every wait for a signalled process to exit.
	exitTimeout = 30 * time.Second
	// dumpTail is how much of a process's output a failed test prints.
	dumpTail = 16 << 10
)

// builds holds the binaries built for this test run; TestMain removes
// them. It is the package's one piece of shared state: building takes
// seconds, so tests share it.
var builds struct {
	once sync.Once
	dir  string
	bins binaries
	err  error
}

// binaries are the paths of the built programs.
type binaries struct {
	sidecar string // cmd/sidecar
	testapp string // integration/testapp
}

func TestMain(m *testing.M) {
	code := m.Run()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
	os.Exit(code)
}

// builtBinaries builds cmd/sidecar and integration/testapp on first use
// (with -race when the tests run with -race, so the proxy's own goroutines
// are checked under real load) and returns their paths.
func builtBinaries(t testing.TB) binaries {
	t.Helper()
	builds.once.Do(func() {
		dir, err := os.MkdirTemp("", "sidecar-integration-")
		if err != nil {
			builds.err = err
			return
		}
		builds.dir = dir
		bins := binaries{sidecar: filepath.Join(dir, "sidecar"), testapp: filepath.Join(dir, "testapp")}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, b := range [][2]string{{bins.sidecar, "../cmd/sidecar"}, {bins.testapp, "./testapp"}} {
			wg.Add(1)
			go func() { // exits when go build does
				defer wg.Done()
				args := []string{"build", "-o", b[0]}
				if raceEnabled {
					args = append(args, "-race")
				}
				if out, err := exec.Command("go", append(args, b[1])...).CombinedOutput(); err != nil {
					errs[i] = fmt.Errorf("go build %s: %w\n%s", b[1], err, out)
				}
			}()
		}
		wg.Wait()
		if builds.err = errors.Join(errs...); builds.err != nil {
			return
		}
		if bin := os.Getenv("INTEGRATION_SIDECAR_BIN"); bin != "" {
			bins.sidecar = bin // a prebuilt binary, e.g. another commit's, to compare
		}
		builds.bins = bins
	})
	require.NoError(t, builds.err)
	return builds.bins
}

// proc is one started process with its combined output.
type proc struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	out    *logtest.Buffer
	exited chan struct{} // closed once the process has exited and state is set
	state  *os.ProcessState
	// quiet filters the output a failed test prints (nil prints it all).
	quiet func(line string) bool
	// group: the process leads a process group of its own, which kill
	// kills whole (startProcGroup).
	group bool
}

// startProc starts bin with args and env (added to the test's own
// environment). A goroutine waits for the process (it exits when the
// process does); t.Cleanup kills it if it is still running and, when the
// test failed, prints the end of its output. Output mentioning a data
// race fails the test.
func startProc(t testing.TB, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	return startProcAttr(t, name, env, false, bin, args...)
}

// startProcGroup is startProc for a program that forks workers which
// outlive it (php -S with PHP_CLI_SERVER_WORKERS): it runs in a process
// group of its own, and kill kills the whole group.
func startProcGroup(t testing.TB, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	return startProcAttr(t, name, env, true, bin, args...)
}

func startProcAttr(t testing.TB, name string, env []string, group bool, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, out: &logtest.Buffer{}, exited: make(chan struct{}), group: group}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.SysProcAttr = sysProcAttr()
	if group {
		if p.cmd.SysProcAttr == nil {
			p.cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		p.cmd.SysProcAttr.Setpgid = true
	}
	require.NoError(t, p.cmd.Start(), "starting %s", name)
	go func() {
		_ = p.cmd.Wait()
		p.state = p.cmd.ProcessState
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.kill()
		if strings.Contains(p.out.String(), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race", name)
		}
		if t.Failed() {
			t.Logf("---- output of %s (pid %d, %s) ----\n%s", name, p.cmd.Process.Pid, p.exitStatus(), p.dump())
		}
	})
	return p
}

// running reports whether the process has not exited yet.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// signal sends sig to the process.
func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	require.NoError(p.t, p.cmd.Process.Signal(sig), "signalling %s", p.name)
}

// wait waits up to exitTimeout for the process to exit and returns its
// exit code (-1 when a signal killed it). It fails the test on timeout.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.state.ExitCode()
	case <-time.After(exitTimeout):
		p.t.Fatalf("%s did not exit within %v\n%s", p.name, exitTimeout, p.dump())
		return 0
	}
}

// kill kills the process with SIGKILL (if it still runs), and its group
// when it leads one, and waits for it.
func (p *proc) kill() {
	if p.group {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // workers that outlived their parent too
	}
	if p.running() {
		_ = p.cmd.Process.Kill()
	}
	<-p.exited
}

func (p *proc) exitStatus() string {
	if p.running() {
		return "running"
	}
	return p.state.String()
}

// dump is the end of the output, filtered by quiet.
func (p *proc) dump() string {
	out := p.out.String()
	if p.quiet != nil {
		var b strings.Builder
		for _, line := range strings.SplitAfter(out, "\n") {
			if !p.quiet(line) {
				b.WriteString(line)
			}
		}
		out = b.String()
	}
	if len(out) > dumpTail {
		out = "...\n" + out[len(out)-dumpTail:]
	}
	return out
}

// runSidecar runs `sidecar ARGS...` (e.g. "check", "--config", path, or an
// admin command) to completion within exitTimeout and returns its
// combined output and exit code.
func runSidecar(t testing.TB, env []string, args ...string) (string, int) {
	t.Helper()
	bin := builtBinaries(t).sidecar // the first call builds it: not part of the command's time
	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &exit) && ctx.Err() == nil:
		return string(out), exit.ExitCode()
	}
	t.Fatalf("sidecar %s: %v (%v)\n%s", strings.Join(args, " "), err, ctx.Err(), out)
	return "", 0
}

// cmdResult is how a command started by startSidecarCmd ended.
type cmdResult struct {
	out  string
	code int   // exit code; -1 when it did not exit normally
	err  error // why it did not run or exit normally (nil when it exited)
}

// startSidecarCmd runs `sidecar ARGS...` in the background, for a command
// that blocks (e.g. `upstreams drain`). The channel delivers its result
// once it exits; it is killed after exitTimeout and when the test ends.
func startSidecarCmd(t testing.TB, args ...string) <-chan cmdResult {
	t.Helper()
	bin := builtBinaries(t).sidecar // not part of the command's time
	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.SysProcAttr = sysProcAttr()
	done := make(chan cmdResult, 1)
	go func() { // exits when the command does (or is killed)
		out, err := cmd.CombinedOutput()
		r := cmdResult{out: string(out), code: cmd.ProcessState.ExitCode()}
		var exit *exec.ExitError
		if err != nil && (!errors.As(err, &exit) || ctx.Err() != nil) {
			r.err = fmt.Errorf("sidecar %s: %w (%v)", strings.Join(args, " "), err, ctx.Err())
		}
		done <- r
	}()
	return done
}

// drain reads and closes a response body so its connection is reused.
func drain(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, 1<<20))
	_ = body.Close()
}

// waitFor polls cond until it holds, failing the test if p exits first or
// readyTimeout passes; what names the awaited condition.
func waitFor(t testing.TB, p *proc, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(readyTimeout)
	for backoff := time.Millisecond; !cond(); backoff = min(2*backoff, 50*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: no %s within %v\n%s", p.name, what, readyTimeout, p.dump())
		}
		select {
		case <-p.exited:
			t.Fatalf("%s exited (%s) before %s\n%s", p.name, p.exitStatus(), what, p.dump())
		case <-time.After(backoff):
		}
	}
}

// freeAddr is a loopback host:port that was free a moment ago.
func freeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(redistest.FreePort(t)))
}
