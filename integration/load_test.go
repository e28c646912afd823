package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// loadOptions bound a load run; the zero value of each field is its
// stated default.
type loadOptions struct {
	// Clients is the number of concurrent clients, each with its own
	// session and connections; 0 means 6.
	Clients int
	// MaxTime bounds the run even if Stop is never called; 0 means 60s.
	MaxTime time.Duration
	// MaxOps bounds each client's requests; 0 means 100000.
	MaxOps int
	// Pace is each client's pause between two requests; 0 means none.
	Pace time.Duration
	// FreshConns makes every request dial a new connection (no
	// keep-alive), to catch refused connections.
	FreshConns bool
}

// failure is one request that did not do what the client expected.
type failure struct {
	Client    int
	Method    string
	Path      string
	Status    int    // 0 when no response arrived
	Cause     string // transport, status, body, lost_session, stale
	Err       string
	RequestID string // Sidecar's X-Request-Id, to find it in the access log
	Upstream  string // the app that answered, when known
	At        time.Duration
}

func (f failure) String() string {
	return fmt.Sprintf("client %d +%v %s %s: %s status=%d upstream=%q request_id=%s: %s",
		f.Client, f.At.Round(time.Millisecond), f.Method, f.Path, f.Cause, f.Status, f.Upstream, f.RequestID, f.Err)
}

// loadStats are the totals of a run.
type loadStats struct {
	Requests int
	ByMethod map[string]int // requests sent, by method
	ByServer map[string]int // successful requests, by the app that answered
	Failures []failure
	// Ambiguous counts failed writes whose outcome the next read settled.
	Ambiguous int
}

// failed returns the failures of method ("" for all).
func (s loadStats) failed(method string) []failure {
	var out []failure
	for _, f := range s.Failures {
		if method == "" || f.Method == method {
			out = append(out, f)
		}
	}
	return out
}

// withStatus counts the failures answered with code.
func (s loadStats) withStatus(code int) int {
	n := 0
	for _, f := range s.Failures {
		if f.Status == code {
			n++
		}
	}
	return n
}

func (s loadStats) String() string {
	byCause := map[string]int{}
	for _, f := range s.Failures {
		byCause[f.Method+" "+f.Cause+" "+strconv.Itoa(f.Status)]++
	}
	return fmt.Sprintf("%d requests (by method %v), answered by %v; %d failed %v; %d ambiguous writes",
		s.Requests, s.ByMethod, sortedCounts(s.ByServer), len(s.Failures), byCause, s.Ambiguous)
}

func sortedCounts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%d", k, m[k])
	}
	return b.String()
}

// load runs clients against a Sidecar until Stop, MaxTime or MaxOps. Each
// client logs in once, then loops: GET /whoami (its session must hold what
// it last wrote), POST /set?k=n&v=I (I counting up). Every failure is
// recorded, never fatal, so a test decides what it tolerates.
type load struct {
	t       testing.TB
	base    string
	opts    loadOptions
	start   time.Time
	stopped chan struct{} // closed by Stop
	done    chan struct{} // closed when every client has returned
	once    sync.Once
	clients []*loadClient
	ok      atomic.Int64 // successful requests, for progress waits

	mu    sync.Mutex
	stats loadStats
}

// loadClient is one browser: its cookie and what its session should hold.
type loadClient struct {
	id     int
	user   string
	http   *http.Client
	cookie string
	// last is the value of n this client last wrote (0: none yet); after a
	// failed write, pending is the value that may or may not have landed.
	last, pending int
}

// startLoad logs every client in (requiring it to work) and starts them.
// t.Cleanup stops the run.
func startLoad(t testing.TB, base string, opts loadOptions) *load {
	t.Helper()
	if opts.Clients == 0 {
		opts.Clients = 6
	}
	if opts.MaxTime == 0 {
		opts.MaxTime = 60 * time.Second
	}
	if opts.MaxOps == 0 {
		opts.MaxOps = 100000
	}
	l := &load{
		t: t, base: base, opts: opts, start: time.Now(),
		stopped: make(chan struct{}), done: make(chan struct{}),
		stats: loadStats{ByMethod: map[string]int{}, ByServer: map[string]int{}},
	}
	for i := range opts.Clients {
		c := &loadClient{
			id: i, user: fmt.Sprintf("user%d", i),
			http: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4, DisableKeepAlives: opts.FreshConns}},
		}
		t.Cleanup(c.http.CloseIdleConnections)
		v, f := l.do(context.Background(), c, http.MethodPost, "/login?user="+c.user)
		require.Nil(t, f, "login of %s", c.user)
		require.NotEmpty(t, c.cookie, "login of %s set a cookie", c.user)
		require.Equal(t, "", v.Sub, "login of %s saw a fresh session", c.user)
		l.clients = append(l.clients, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.MaxTime)
	var wg sync.WaitGroup
	for _, c := range l.clients {
		wg.Add(1)
		go func() { // exits on Stop, MaxTime or MaxOps
			defer wg.Done()
			l.run(ctx, c)
		}()
	}
	go func() { wg.Wait(); cancel(); close(l.done) }() // exits when the clients have
	t.Cleanup(func() { l.Stop() })
	return l
}

// run is one client's loop.
func (l *load) run(ctx context.Context, c *loadClient) {
	for i := 1; i <= l.opts.MaxOps/2; i++ {
		select {
		case <-l.stopped:
			return
		case <-ctx.Done():
			return
		default:
		}
		l.read(ctx, c)
		l.pause(ctx)
		if _, f := l.do(ctx, c, http.MethodPost, fmt.Sprintf("/set?k=n&v=%d", i)); f != nil {
			c.pending = i // an error after the app answered may still have saved it
		} else {
			c.last, c.pending = i, 0
		}
		l.pause(ctx)
	}
}

func (l *load) pause(ctx context.Context) {
	if l.opts.Pace <= 0 {
		return
	}
	t := time.NewTimer(l.opts.Pace)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	case <-l.stopped:
	}
}

// read GETs /whoami and checks the session holds this client's last
// write, settling an ambiguous one.
func (l *load) read(ctx context.Context, c *loadClient) {
	v, f := l.do(ctx, c, http.MethodGet, "/whoami")
	if f != nil {
		return
	}
	var data struct {
		User string `json:"user"`
		N    int    `json:"n"`
	}
	_ = json.Unmarshal(v.Data, &data)
	switch {
	case v.New || v.Sub != c.user || data.User != c.user:
		l.fail(c, http.MethodGet, "/whoami", "lost_session", 200, v.RequestID, v.Server,
			fmt.Sprintf("session is new=%v sub=%q data=%s", v.New, v.Sub, v.Data))
	case c.pending != 0 && (data.N == c.pending || data.N == c.last):
		l.mu.Lock()
		l.stats.Ambiguous++
		l.mu.Unlock()
		c.last, c.pending = data.N, 0
	case data.N != c.last:
		l.fail(c, http.MethodGet, "/whoami", "stale", 200, v.RequestID, v.Server,
			fmt.Sprintf("n=%d, want %d (pending %d)", data.N, c.last, c.pending))
	}
}

// loadView is the part of testapp's JSON the load checks.
type loadView struct {
	Server         string          `json:"server"`
	New            bool            `json:"new"`
	Sub            string          `json:"sub"`
	Data           json.RawMessage `json:"data"`
	SessionHeaders int             `json:"session_headers"`
	RequestID      string          `json:"request_id"`
}

// do sends one request with the client's cookie, keeps any new cookie,
// and returns the app's view, or the recorded failure.
func (l *load) do(ctx context.Context, c *loadClient, method, path string) (loadView, *failure) {
	var v loadView
	l.mu.Lock()
	l.stats.Requests++
	l.stats.ByMethod[method]++
	l.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, method, l.base+path, nil)
	if err != nil {
		return v, l.fail(c, method, path, "transport", 0, "", "", err.Error())
	}
	if c.cookie != "" {
		req.Header.Set("Cookie", "sidecar_sid="+c.cookie)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return v, l.fail(c, method, path, "transport", 0, "", "", err.Error())
	}
	defer drain(resp.Body)
	for _, ck := range resp.Cookies() {
		if ck.Name == "sidecar_sid" {
			c.cookie = ck.Value
			if ck.MaxAge < 0 {
				c.cookie = ""
			}
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	rid := resp.Header.Get("X-Request-Id")
	switch {
	case err != nil:
		return v, l.fail(c, method, path, "body", resp.StatusCode, rid, "", err.Error())
	case resp.StatusCode != http.StatusOK:
		return v, l.fail(c, method, path, "status", resp.StatusCode, rid, "", strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, l.fail(c, method, path, "body", resp.StatusCode, rid, "", err.Error())
	}
	if v.SessionHeaders != 1 {
		return v, l.fail(c, method, path, "body", resp.StatusCode, v.RequestID, v.Server,
			fmt.Sprintf("the app got %d session headers", v.SessionHeaders))
	}
	l.ok.Add(1)
	l.mu.Lock()
	l.stats.ByServer[v.Server]++
	l.mu.Unlock()
	return v, nil
}

// fail records a failure and returns it.
func (l *load) fail(c *loadClient, method, path, cause string, status int, rid, upstream, msg string) *failure {
	f := failure{
		Client: c.id, Method: method, Path: path, Status: status, Cause: cause,
		Err: msg, RequestID: rid, Upstream: upstream, At: time.Since(l.start),
	}
	l.mu.Lock()
	l.stats.Failures = append(l.stats.Failures, f)
	l.mu.Unlock()
	return &f
}

// progress waits until n more requests have succeeded: the load goes on.
func (l *load) progress(n int64) {
	l.t.Helper()
	target := l.ok.Load() + n
	waitUntil(l.t, fmt.Sprintf("%d more successful requests of the load", n), func() (bool, string) {
		return l.ok.Load() >= target, l.snapshot().String()
	})
}

// snapshot is a copy of the totals so far.
func (l *load) snapshot() loadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.stats
	s.ByMethod, s.ByServer = copyCounts(s.ByMethod), copyCounts(s.ByServer)
	s.Failures = append([]failure(nil), s.Failures...)
	return s
}

func copyCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Stop ends the run, waits for every client and returns the totals.
func (l *load) Stop() loadStats {
	l.once.Do(func() { close(l.stopped) })
	select {
	case <-l.done:
	case <-time.After(exitTimeout + 20*time.Second):
		l.t.Errorf("load clients did not stop")
	}
	return l.snapshot()
}

// verifySessions reads every client's session once more (after Stop) and
// returns a failure for each that lost its last write.
func (l *load) verifySessions() []failure {
	var out []failure
	for _, c := range l.clients {
		v, f := l.do(context.Background(), c, http.MethodGet, "/whoami")
		if f != nil {
			out = append(out, *f)
			continue
		}
		var data struct {
			User string `json:"user"`
			N    int    `json:"n"`
		}
		_ = json.Unmarshal(v.Data, &data)
		want := []int{c.last}
		if c.pending != 0 {
			want = append(want, c.pending)
		}
		if v.New || v.Sub != c.user || data.User != c.user || !containsInt(want, data.N) {
			out = append(out, failure{Client: c.id, Method: http.MethodGet, Path: "/whoami", Cause: "final_read",
				Status: 200, Upstream: v.Server, RequestID: v.RequestID,
				Err: fmt.Sprintf("session new=%v sub=%q data=%s, want user %s n in %v", v.New, v.Sub, v.Data, c.user, want)})
		}
	}
	return out
}

func containsInt(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
