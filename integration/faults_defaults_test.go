package integration

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/proxy"
)

// Issue 8's fault scenarios on the shipped defaults: a crashed app server
// and clients that break their uploads, each against the sidecar binary
// whose config sets only what it needs to run.

// faultLoadTime bounds the load of these tests instead of loadOptions'
// 60s, which a busy 2-core machine running the race detector could reach
// before the scenario ends; Stop ends the load long before.
const faultLoadTime = 5 * time.Minute

// newDefaultsCluster starts n testapps named app1..appN and the sidecar
// binary in front of them on the shipped defaults: the config sets only
// listen, the upstreams, the secrets and the memory store (sidecarSpec{}),
// no proxy.passive, proxy.health_check or proxy.retry key as poolSpec
// sets them.
func newDefaultsCluster(t testing.TB, n int) *cluster {
	t.Helper()
	c := &cluster{}
	spec := sidecarSpec{} // memory store, nothing tuned
	for i := 1; i <= n; i++ {
		a := startApp(t, fmt.Sprintf("app%d", i))
		c.apps = append(c.apps, a)
		spec.Upstreams = append(spec.Upstreams, upstreamSpec{Name: a.name, URL: a.URL()})
	}
	c.sidecar = startSidecarProc(t, spec)
	return c
}

// TestKilledAppShippedDefaults crashes one of three app servers (SIGKILL)
// while six clients read (GET) and write (POST) their sessions, keeps the
// load going while it is dead, starts it again and waits until Sidecar
// sends it traffic, three times over on fresh processes.
//
// On the defaults a refused dial is retried on another upstream and the
// dead one is ejected after two failures (never more than half the pool,
// so no panic mode and no 503), then probed back by a TCP connect. A GET
// that was on the dead app is retried too, so no read fails. A POST the
// app had received when it died may have run, so it is not replayed: the
// client gets 502, and only that. Failures are counted by cause, per run.
func TestKilledAppShippedDefaults(t *testing.T) {
	const runs = 3
	var summary []string
	for run := 1; run <= runs; run++ {
		t.Run(fmt.Sprintf("run %d", run), func(t *testing.T) {
			c := newDefaultsCluster(t, 3)
			victim := c.apps[(run-1)%len(c.apps)]
			begin := time.Now()
			l := startLoad(t, c.sidecar.URL(), loadOptions{MaxTime: faultLoadTime})
			l.progress(100)

			killed := time.Now()
			victim.kill()
			l.progress(300) // the other two carry the load while it is dead
			dead := time.Since(killed)
			victim.start()
			started := time.Now()
			victim.waitServing(20)
			back := time.Since(started)
			l.progress(100)
			stats := l.Stop()
			final := l.verifySessions()
			c.report(t, stats)

			causes := c.failureCauses(stats.Failures)
			s503 := stats.withStatus(http.StatusServiceUnavailable)
			gets, posts := stats.failed(http.MethodGet), stats.failed(http.MethodPost)
			reached := 0 // failed POSTs an app had received: it may have run them
			for _, f := range posts {
				if c.whereDidItGo(f.RequestID) != "no app received it" {
					reached++
				}
			}
			line := fmt.Sprintf("run %d: %s killed, dead for %v, serving %v after its start; %d requests (%d GET, %d POST) in %v; "+
				"%d 503s; %d failed GETs %s; %d failed POSTs %s, %d of them received by an app; %d ejections",
				run, victim.name, dead.Round(time.Millisecond), back.Round(time.Millisecond),
				stats.Requests, stats.ByMethod[http.MethodGet], stats.ByMethod[http.MethodPost], time.Since(begin).Round(time.Millisecond),
				s503, len(gets), causes[http.MethodGet], len(posts), causes[http.MethodPost], reached, c.sidecar.count("upstream ejected"))
			t.Log(line)
			summary = append(summary, line)

			assert.Zero(t, s503, "no 503 while two of three apps listen")
			assert.Empty(t, gets, "no GET may fail when an app server dies")
			for _, f := range posts {
				assert.Equal(t, http.StatusBadGateway, f.Status, "a POST lost with its app is a 502: %s; %s", f, c.whereDidItGo(f.RequestID))
			}
			assert.Empty(t, final, "every session keeps its last write (or the settled outcome of a failed one)")
			assert.Positive(t, victim.served(), "%s serves again after its restart", victim.name)
			c.sidecar.stop()
		})
	}
	t.Logf("%d runs:\n%s", len(summary), strings.Join(summary, "\n"))
}

// TestBrokenUploadsShippedDefaults has an attacker break uploads to three
// app servers, 20 times over each of four ways, over raw TCP, while six
// well-behaved clients read and write their sessions. The upload path
// (testapp's POST /upload) reads the whole body, as an upload handler
// does, so the body breaks while an app is reading it:
//   - a chunked body ending in a malformed chunk, shorter and longer than
//     the retry buffer (streamed to the app once past it);
//   - a body shorter than its Content-Length, after which the attacker
//     hangs up, again under and over the buffer.
//
// A broken body is the client's fault: Sidecar answers 400 (logged 499
// when the client has gone) and never counts it against the app. So the
// other clients see nothing but 200s, no upstream is ejected or marked
// unhealthy, the pool never panics, and the access log classifies every
// broken upload as client_body or client_canceled.
func TestBrokenUploadsShippedDefaults(t *testing.T) {
	const rounds = 20
	c := newDefaultsCluster(t, 3)
	begin := time.Now()
	l := startLoad(t, c.sidecar.URL(), loadOptions{MaxTime: faultLoadTime})
	l.progress(100)

	kinds := brokenUploads(proxy.DefaultRetryBufferBytes)
	var sent []brokenResult
	attackStart := time.Now()
	for range rounds {
		for _, k := range kinds {
			sent = append(sent, sendBroken(t, c.sidecar.addr, k))
		}
		l.progress(20) // the good clients get through between attacks
	}
	attackTime := time.Since(attackStart)
	l.progress(100)
	stats := l.Stop()
	final := l.verifySessions()

	// Each broken upload's access-log entry, found by the attacker's
	// address (in the order sent, should a port have been reused).
	var byRemote map[string][]map[string]any
	waitUntil(t, "an access-log entry for every broken upload", func() (bool, string) {
		byRemote = map[string][]map[string]any{}
		n := 0
		for _, e := range c.sidecar.logEntries() {
			if e["log"] == "access" && e["path"] == "/upload" {
				remote, _ := e["remote"].(string)
				byRemote[remote] = append(byRemote[remote], e)
				n++
			}
		}
		return n >= len(sent), fmt.Sprintf("%d of %d logged", n, len(sent))
	})
	access := c.sidecar.access()
	t.Logf("load: %s", stats)
	t.Logf("sidecar access log: %s", access)
	for _, e := range access.Errors {
		if e["path"] != "/upload" { // the attacker's are counted below
			t.Logf("sidecar error: %v", e)
		}
	}
	for _, f := range stats.Failures {
		t.Logf("failed: %s; %s", f, c.whereDidItGo(f.RequestID))
	}

	seen := map[string]map[string]int{} // kind -> what the attacker saw and Sidecar logged -> count
	for _, r := range sent {
		if seen[r.kind] == nil {
			seen[r.kind] = map[string]int{}
		}
		got := "no response (" + r.noAnswer + ")"
		if r.status != 0 {
			got = fmt.Sprintf("got %d", r.status)
		}
		es := byRemote[r.remote]
		if !assert.NotEmpty(t, es, "%s: no access-log entry for %s", r.kind, r.remote) {
			continue
		}
		e := es[0]
		byRemote[r.remote] = es[1:]
		status, _ := e["status"].(float64)
		kind, _ := e["error_kind"].(string)
		seen[r.kind][fmt.Sprintf("%s, logged %d %s", got, int(status), kind)]++

		assert.Empty(t, r.writeErr, "%s: Sidecar stopped reading the request before it broke", r.kind)
		if r.status != 0 {
			assert.Equal(t, http.StatusBadRequest, r.status, "%s: the answer to a broken body (request id %s)", r.kind, r.requestID)
			assert.Equal(t, r.requestID, e["request_id"], "%s: the entry from %s is the request answered", r.kind, r.remote)
		}
		assert.Contains(t, []int{http.StatusBadRequest, proxy.StatusClientClosed}, int(status),
			"%s: a client fault is logged 400 or 499: %v", r.kind, e)
		assert.Contains(t, []string{"client_body", "client_canceled"}, kind,
			"%s: a broken body is the client's fault, never the upstream's: %v", r.kind, e)
	}
	for _, k := range kinds {
		t.Logf("%-50s %s", k.name+":", sortedCounts(seen[k.name]))
		if !k.hangUp {
			answered := 0
			for what, n := range seen[k.name] {
				if !strings.HasPrefix(what, "no response") {
					answered += n
				}
			}
			assert.Positive(t, answered, "%s: some attacker that stayed read an answer", k.name)
		}
	}

	t.Logf("broken uploads: %d sent in %v; good clients: %d requests (%d GET, %d POST), %d failed; whole test %v",
		len(sent), attackTime.Round(time.Millisecond), stats.Requests, stats.ByMethod[http.MethodGet], stats.ByMethod[http.MethodPost],
		len(stats.Failures), time.Since(begin).Round(time.Millisecond))
	assert.Empty(t, stats.Failures, "every good client request gets a 200")
	assert.Zero(t, stats.Ambiguous)
	assert.Empty(t, final, "every good session keeps its last write")
	for status, n := range access.ByStatus {
		assert.Less(t, status, 500, "%d responses with status %d: a broken upload is never an upstream or pool fault", n, status)
	}
	for _, msg := range []string{
		"upstream ejected", "upstream not ejected despite failures", "ejected upstream failed its probe",
		"upstream unhealthy", "panic mode",
	} {
		assert.Zero(t, c.sidecar.count(msg), "log entries %q: a client's broken body counts against no upstream", msg)
	}
	c.sidecar.stop()
}

// brokenUpload is one way the attacker breaks an upload.
type brokenUpload struct {
	name string
	// req is everything the attacker writes: the request head and a body
	// that breaks off.
	req string
	// hangUp closes the connection after writing; otherwise the attacker
	// reads the answer.
	hangUp bool
}

// brokenUploads are the four kinds, with bodies under and over a retry
// buffer of buffer bytes.
func brokenUploads(buffer int) []brokenUpload {
	small, big := 64<<10, buffer+256<<10
	head := "POST /upload HTTP/1.1\r\nHost: sidecar.test\r\nContent-Type: application/octet-stream\r\n"
	chunkedHead := head + "Transfer-Encoding: chunked\r\n\r\n"
	short := func(sent int) string {
		return head + fmt.Sprintf("Content-Length: %d\r\n\r\n", 2*sent) + strings.Repeat("x", sent)
	}
	return []brokenUpload{
		{name: fmt.Sprintf("malformed chunk after %d KiB", small>>10), req: chunkedHead + chunks(small) + "zz\r\n"},
		{name: fmt.Sprintf("malformed chunk after %d KiB", big>>10), req: chunkedHead + chunks(big) + "zz\r\n"},
		{name: fmt.Sprintf("hang-up after %d of %d KiB", small>>10, 2*small>>10), req: short(small), hangUp: true},
		{name: fmt.Sprintf("hang-up after %d of %d KiB", big>>10, 2*big>>10), req: short(big), hangUp: true},
	}
}

// chunks is n bytes of chunked body in 32 KiB chunks, without the last
// chunk.
func chunks(n int) string {
	var b strings.Builder
	for n > 0 {
		k := min(n, 32<<10)
		fmt.Fprintf(&b, "%x\r\n%s\r\n", k, strings.Repeat("x", k))
		n -= k
	}
	return b.String()
}

// brokenResult is what the attacker saw of one broken upload.
type brokenResult struct {
	kind   string
	remote string // the attacker's address, as Sidecar's access log has it
	// status is Sidecar's answer, 0 when none was read.
	status    int
	requestID string
	// noAnswer says why no answer was read; writeErr why writing failed.
	noAnswer, writeErr string
}

// sendBroken writes u on a fresh connection to addr, then hangs up or
// reads the answer, within readyTimeout.
func sendBroken(t *testing.T, addr string, u brokenUpload) brokenResult {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err, "the attacker dialing Sidecar")
	defer conn.Close()
	r := brokenResult{kind: u.name, remote: conn.LocalAddr().String()}
	require.NoError(t, conn.SetDeadline(time.Now().Add(readyTimeout)))
	if _, err := io.WriteString(conn, u.req); err != nil {
		r.writeErr = err.Error()
	}
	if u.hangUp {
		r.noAnswer = "hung up"
		return r
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		r.noAnswer = err.Error()
		return r
	}
	drain(resp.Body)
	r.status, r.requestID = resp.StatusCode, resp.Header.Get("X-Request-Id")
	return r
}
