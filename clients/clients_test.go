package clients

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/logtest"
	"github.com/sidecarproxy/sidecar/stores/redis/redistest"
)

// kitSuite is one app kit's own test suite: a command run from the kit's
// folder on the kit's real runtime. Exit status 0 is a pass; the suite
// prints its counts, which the test logs.
type kitSuite struct {
	name string   // the subtest: go test ./clients -run TestKits/<name>
	dir  string   // the kit's folder under clients/
	cmd  []string // cmd[0] is the runtime, found by needRuntime
	pkg  string   // what provides cmd[0], for the message when it is missing
}

// kitSuites lists the kits whose suites TestKits runs, one row per kit.
func kitSuites() []kitSuite {
	return []kitSuite{
		{name: "php", dir: "php", cmd: []string{"php", "tests/run.php"}, pkg: "php-cli"},
		{name: "node", dir: "node", cmd: []string{"node", "--test", "test/"}, pkg: "nodejs (20 or later)"},
		{name: "python", dir: "python", cmd: []string{"python3", "-m", "unittest", "discover", "-s", "tests", "-t", "."}, pkg: "python3 with python3-cryptography"},
	}
}

// kitTimeout bounds one kit's whole suite (its lock test included).
const kitTimeout = 5 * time.Minute

// TestKits runs each kit's own test suite against the shared vectors
// (testdata/vectors.json) on its real runtime. The suites' lock tests run
// against a real lock service: a sidecar binary built from this module,
// with the memory store and lock_service.listen on a free port, whose
// address and token the suites get as SIDECAR_TEST_LOCK_URL and
// SIDECAR_LOCK_SERVICE__TOKEN.
func TestKits(t *testing.T) {
	suites := kitSuites()
	var locks *lockService
	if slices.ContainsFunc(suites, func(k kitSuite) bool { return findRuntime(k.cmd[0]) != "" }) {
		locks = startLockService(t)
	}
	for _, k := range suites {
		t.Run(k.name, func(t *testing.T) {
			bin := needRuntime(t, k.cmd[0], k.pkg)
			ctx, cancel := context.WithTimeout(context.Background(), kitTimeout)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, k.cmd[1:]...)
			cmd.Dir = k.dir
			cmd.Env = append(os.Environ(), "SIDECAR_TEST_LOCK_URL="+locks.url, "SIDECAR_LOCK_SERVICE__TOKEN="+locks.token)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s in clients/%s failed:\n%s\nsidecar log (tail):\n%s",
				strings.Join(k.cmd, " "), k.dir, out, locks.tail())
			t.Logf("%s: %s", strings.Join(k.cmd, " "), lastLine(out))
		})
	}
}

// TestCFLint lints every .cfc and .cfm under clients/ and examples/ with
// CFLint (the npm package cflint, which bundles its jar and runs on the
// JRE) and fails on any error, PARSE_ERROR included: no CFML engine runs
// here, so this is what proves the CFML parses. clients/.cflintrc turns off
// the purely stylistic rules (clients/cfml/README.md says why, rule by
// rule). The npm wrapper always exits 0, so the verdict is read from its
// JSON report.
func TestCFLint(t *testing.T) {
	files := cfmlFiles(t, ".", filepath.Join("..", "examples"))
	require.NotEmpty(t, files, "no CFML found under clients/")
	bin := needRuntime(t, "cflint", "npm install -g cflint")
	needRuntime(t, "java", "default-jre-headless")
	config, err := filepath.Abs(".cflintrc")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), kitTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-file", strings.Join(files, ","), "-configfile", config,
		"-json", "-stdout", "-e", "-q")
	cmd.Dir = t.TempDir() // CFLint writes nothing with -stdout; if it ever does, not into the tree
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "cflint: %s", stderr.String())

	var report struct {
		Issues []struct {
			Severity  string `json:"severity"`
			ID        string `json:"id"`
			Locations []struct {
				File    string `json:"file"`
				Line    int    `json:"line"`
				Message string `json:"message"`
			} `json:"locations"`
		} `json:"issues"`
		Counts struct {
			TotalFiles int `json:"totalFiles"`
		} `json:"counts"`
	}
	start := strings.IndexByte(string(out), '{')
	require.GreaterOrEqual(t, start, 0, "cflint printed no JSON report (is java installed?):\n%s\n%s", out, stderr.String())
	require.NoError(t, json.Unmarshal(out[start:], &report), "cflint's report:\n%s", out)
	assert.Equal(t, len(files), report.Counts.TotalFiles, "files linted of %v", files)
	errorsFound, others := 0, 0
	for _, is := range report.Issues {
		bad := is.ID == "PARSE_ERROR" || is.Severity == "ERROR" || is.Severity == "FATAL" || is.Severity == "CRITICAL"
		for _, l := range is.Locations {
			line := fmt.Sprintf("%s %s %s:%d: %s", is.Severity, is.ID, l.File, l.Line, l.Message)
			if bad {
				errorsFound++
				t.Error(line)
			} else {
				others++
				t.Log(line)
			}
		}
	}
	t.Logf("cflint: %d files, %d errors, %d other findings", report.Counts.TotalFiles, errorsFound, others)
}

// cfmlFiles lists the .cfc and .cfm files under the given folders (absolute
// paths, sorted); a folder that does not exist is skipped (examples/ may be
// absent).
func cfmlFiles(t *testing.T, dirs ...string) []string {
	t.Helper()
	var files []string
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if ext := strings.ToLower(filepath.Ext(p)); !d.IsDir() && (ext == ".cfc" || ext == ".cfm") {
				abs, err := filepath.Abs(p)
				files = append(files, abs)
				return err
			}
			return nil
		})
		if err != nil && !(dir != "." && os.IsNotExist(err)) {
			require.NoError(t, err)
		}
	}
	slices.Sort(files)
	return files
}

// needRuntime finds a kit's runtime: name on PATH, or a versioned name
// (php8.2) in /usr/bin. A missing one fails the test when
// CI=true (.ci/run installs it) and skips it otherwise, saying what to
// install.
func needRuntime(t *testing.T, name, pkg string) string {
	t.Helper()
	if p := findRuntime(name); p != "" {
		return p
	}
	msg := fmt.Sprintf("%s is not installed (%s; .ci/run installs it)", name, pkg)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// findRuntime is needRuntime's lookup; "" when the runtime is missing.
func findRuntime(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	found, _ := filepath.Glob("/usr/bin/" + name + "[0-9]*")
	slices.Sort(found)
	if len(found) == 0 {
		return ""
	}
	return found[len(found)-1]
}

// lockService is a running sidecar binary with its lock service on.
type lockService struct {
	url, token string
	log        *logtest.Buffer
}

// tail is the end of the sidecar's log, for failure messages.
func (l *lockService) tail() string {
	s := l.log.String()
	if len(s) > 4000 {
		s = "…" + s[len(s)-4000:]
	}
	return s
}

// startLockService builds cmd/sidecar and runs it with the memory store and
// lock_service.listen on a free port until the test ends, waiting until the
// lock service answers.
func startLockService(t *testing.T) *lockService {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "sidecar")
	build := exec.Command("go", "build", "-o", bin, "../cmd/sidecar")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build ../cmd/sidecar: %s", out)

	l := &lockService{token: "clients-test-lock-token-0123456789abcdef", log: &logtest.Buffer{}}
	lockAddr := freeAddr(t)
	l.url = "http://" + lockAddr
	config := fmt.Sprintf(`listen: %q
upstreams:
  - name: app
    url: "http://%s"
store:
  type: memory
session:
  secrets: ["clients-test-cookie-secret-0123456789abcdef"]
headers:
  secret: "clients-test-header-secret-0123456789abcdef"
lock_service:
  listen: %q
  token: %q
`, freeAddr(t), freeAddr(t), lockAddr, l.token)
	cfg := filepath.Join(dir, "sidecar.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(config), 0o600))
	proc := exec.Command(bin, "serve", "--config", cfg)
	proc.Stdout, proc.Stderr = l.log, l.log
	require.NoError(t, proc.Start())
	exited := make(chan struct{})
	go func() { // exits when the sidecar does (killed at cleanup at the latest)
		_ = proc.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = proc.Process.Kill()
		<-exited
	})

	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequest(http.MethodGet, l.url+"/locks/stats", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+l.token)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return l
			}
		}
		select {
		case <-exited:
			t.Fatalf("sidecar exited before its lock service answered:\n%s", l.tail())
		case <-time.After(50 * time.Millisecond): // polling for the listener, bounded by the deadline
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lock service did not answer within 30s (last error %v):\n%s", err, l.tail())
		}
	}
}

// freeAddr is a loopback address with a port that was free a moment ago
// (redistest.FreePort, the one free-port helper the tests share).
func freeAddr(t *testing.T) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(redistest.FreePort(t)))
}

// lastLine is the last non-empty line of a suite's output: its counts.
func lastLine(out []byte) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return lines[len(lines)-1]
}
