// Command testapp is a small app server that behaves like a legacy app
// behind Sidecar, for the integration tests that run real processes. It
// verifies the X-Sidecar-Session JWT on every request (HS256 with the
// secret in SIDECAR_HEADER_SECRET, its own name for headers.secret) and
// reads and writes its session only through the protocol headers.
//
// Usage:
//
//	SIDECAR_HEADER_SECRET=... testapp -listen 127.0.0.1:8081 -name app1
//
// Endpoints (all but /healthz and /stats answer 401 without a valid
// session header):
//
//	GET  /healthz             200 "ok"
//	GET  /stats               {"served": N, "held": H}: N the requests received
//	                          so far (every endpoint but /healthz, /stats and
//	                          /release), H the /hold requests waiting now
//	GET  /whoami              the view of the request (see view)
//	POST /set?k=K&v=JSON      X-Sidecar-Patch {"K":JSON}, then the view
//	POST /login?user=U        patch {"user":U}, principal U, regenerate
//	POST /logout              destroy
//	POST /upload              reads the whole request body, then the view
//	                          with "bytes": its length (an upload handler)
//	GET  /slow?d=DURATION     waits d (or until the client goes away)
//	GET  /hold?gate=G         waits until gate G is released (or the client
//	                          goes away), then the view
//	POST /release?gate=G      releases gate G, now and for later /hold
//	                          requests (asked directly, not through Sidecar)
//	GET  /echo                with "Upgrade: echo": 101, then one JSON line
//	                          with the view of the handshake, then every
//	                          byte read is echoed back until EOF
//
// On SIGTERM or SIGINT it stops accepting, lets requests in flight finish
// (at most -shutdown-timeout) and exits 0. With -lame-duck D it first
// answers /healthz with 503 for D while serving everything else, so a
// proxy with health checks stops sending it requests before it closes its
// connections. With -lame-duck-checks N as well, the lame duck lasts until
// it has failed N health checks and D has passed since the Nth (at most
// -shutdown-timeout): a proxy that checks one at a time and needs N-1
// failures has then stopped sending it requests, however slowly a busy
// machine runs the checks.
//
// With -request-log FILE it appends "REQUEST_ID METHOD PATH" to FILE for
// every proxied request as it arrives, so a test can tell whether a
// request that failed ever reached an app.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
)

// view is what the app reports about the request it received.
type view struct {
	Server string          `json:"server"`
	New    bool            `json:"new"`
	SID    string          `json:"sid"`
	Sub    string          `json:"sub"`
	Data   json.RawMessage `json:"data"`
	Ver    int64           `json:"ver"`
	// SessionHeaders counts the X-Sidecar-Session values the request
	// carried (exactly one from Sidecar).
	SessionHeaders int `json:"session_headers"`
	// RequestID is the X-Request-Id Sidecar sent.
	RequestID string `json:"request_id"`
}

// keyPattern keeps attribute names simple enough to splice into JSON.
var keyPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

type app struct {
	name     string
	verifier *sessions.HeaderSigner
	served   atomic.Int64
	lameDuck atomic.Bool // /healthz fails: shutting down soon
	// failedChecks receives one value per /healthz answered 503 during the
	// lame duck (dropped when nobody counts).
	failedChecks chan struct{}
	// gates are the /hold gates by name; held counts the requests waiting
	// on one.
	gatesMu sync.Mutex
	gates   map[string]chan struct{}
	held    atomic.Int64
	// reqLog, when not nil, gets one line per proxied request (unbuffered,
	// so a SIGKILL loses none).
	reqLog   *os.File
	reqLogMu sync.Mutex
	// upgraded tracks hijacked connections so shutdown can wait for them
	// (http.Server.Shutdown does not).
	upgraded sync.WaitGroup
}

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to listen on")
	name := flag.String("name", "app", "name reported in every response")
	grace := flag.Duration("shutdown-timeout", 10*time.Second, "how long requests in flight may take after SIGTERM")
	lameDuck := flag.Duration("lame-duck", 0, "after SIGTERM, fail /healthz for this long before shutting down")
	lameDuckChecks := flag.Int("lame-duck-checks", 0, "with -lame-duck D: fail this many health checks, then wait D more")
	reqLog := flag.String("request-log", "", "append the id, method and path of every proxied request to this file")
	listenDelay := flag.Duration("listen-delay", 0, "wait this long before listening, as an app server that takes seconds to start does")
	flag.Parse()
	if err := run(*listen, *name, *grace, lameDuckOptions{*lameDuck, *lameDuckChecks}, *reqLog, *listenDelay); err != nil {
		fmt.Fprintf(os.Stderr, "testapp %s: %v\n", *name, err)
		os.Exit(1)
	}
}

// lameDuckOptions are -lame-duck and -lame-duck-checks.
type lameDuckOptions struct {
	d      time.Duration
	checks int
}

func run(listen, name string, grace time.Duration, lameDuck lameDuckOptions, reqLog string, listenDelay time.Duration) error {
	secret := os.Getenv("SIDECAR_HEADER_SECRET")
	verifier, err := sessions.NewHeaderSigner(sessions.HeaderOptions{Secret: []byte(secret)})
	if err != nil {
		return fmt.Errorf("SIDECAR_HEADER_SECRET: %w", err)
	}
	a := &app{name: name, verifier: verifier, failedChecks: make(chan struct{}, 64), gates: map[string]chan struct{}{}}
	if reqLog != "" {
		f, err := os.OpenFile(reqLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			return fmt.Errorf("-request-log: %w", err)
		}
		defer f.Close()
		a.reqLog = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if listenDelay > 0 {
		fmt.Fprintf(os.Stderr, "testapp %s: starting, listening in %v\n", name, listenDelay)
		select {
		case <-time.After(listenDelay):
		case <-ctx.Done():
			fmt.Fprintf(os.Stderr, "testapp %s: signal received before listening: stopped\n", name)
			return nil
		}
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: a.routes(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }() // exits when Shutdown closes the listener
	fmt.Fprintf(os.Stderr, "testapp %s: listening on %s\n", name, ln.Addr())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stop()
	if lameDuck.d > 0 {
		a.lameDuck.Store(true)
		fmt.Fprintf(os.Stderr, "testapp %s: signal received, failing health checks (%d failed, then %v)\n", name, lameDuck.checks, lameDuck.d)
		a.waitLameDuck(lameDuck, grace)
	}
	fmt.Fprintf(os.Stderr, "testapp %s: shutting down (served %d)\n", name, a.served.Load())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	done := make(chan struct{})
	go func() { a.upgraded.Wait(); close(done) }() // exits when the last upgraded conn ends
	select {
	case <-done:
	case <-sctx.Done():
		return errors.New("shutdown: upgraded connections still open")
	}
	fmt.Fprintf(os.Stderr, "testapp %s: stopped (served %d)\n", name, a.served.Load())
	return nil
}

// waitLameDuck returns once o.checks health checks have failed and o.d
// has passed since the last of them, or after max in any case.
func (a *app) waitLameDuck(o lameDuckOptions, max time.Duration) {
	limit := time.NewTimer(max)
	defer limit.Stop()
	for range o.checks {
		select {
		case <-a.failedChecks:
		case <-limit.C:
			fmt.Fprintf(os.Stderr, "testapp %s: lame duck ends after %v without %d failed health checks\n", a.name, max, o.checks)
			return
		}
	}
	select {
	case <-time.After(o.d):
	case <-limit.C:
	}
}

// gate returns the /hold gate named name, made on first use.
func (a *app) gate(name string) chan struct{} {
	a.gatesMu.Lock()
	defer a.gatesMu.Unlock()
	g, ok := a.gates[name]
	if !ok {
		g = make(chan struct{})
		a.gates[name] = g
	}
	return g
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if a.lameDuck.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			select {
			case a.failedChecks <- struct{}{}:
			default:
			}
			return
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]int64{"served": a.served.Load(), "held": a.held.Load()})
	})
	mux.HandleFunc("POST /release", func(w http.ResponseWriter, r *http.Request) {
		g := a.gate(r.URL.Query().Get("gate"))
		a.gatesMu.Lock()
		select {
		case <-g:
		default:
			close(g)
		}
		a.gatesMu.Unlock()
		_, _ = io.WriteString(w, "released\n")
	})
	mux.HandleFunc("GET /hold", a.session(func(w http.ResponseWriter, r *http.Request, v view) {
		g := a.gate(r.URL.Query().Get("gate"))
		a.held.Add(1)
		defer a.held.Add(-1)
		select {
		case <-g:
		case <-r.Context().Done():
			return
		}
		writeJSON(w, v)
	}))
	mux.HandleFunc("GET /whoami", a.session(func(w http.ResponseWriter, r *http.Request, v view) {
		writeJSON(w, v)
	}))
	mux.HandleFunc("POST /set", a.session(func(w http.ResponseWriter, r *http.Request, v view) {
		k, val := r.URL.Query().Get("k"), r.URL.Query().Get("v")
		if !keyPattern.MatchString(k) || !json.Valid([]byte(val)) {
			http.Error(w, "k must be a simple name and v a JSON value", http.StatusBadRequest)
			return
		}
		patch, _ := json.Marshal(map[string]json.RawMessage{k: json.RawMessage(val)})
		w.Header().Set("X-Sidecar-Patch", string(patch))
		writeJSON(w, v)
	}))
	mux.HandleFunc("POST /login", a.session(func(w http.ResponseWriter, r *http.Request, v view) {
		user := r.URL.Query().Get("user")
		if !keyPattern.MatchString(user) {
			http.Error(w, "user must be a simple name", http.StatusBadRequest)
			return
		}
		patch, _ := json.Marshal(map[string]string{"user": user})
		w.Header().Set("X-Sidecar-Patch", string(patch))
		w.Header().Set("X-Sidecar-Principal", user)
		w.Header().Set("X-Sidecar-Action", "regenerate")
		writeJSON(w, v)
	}))
	mux.HandleFunc("POST /logout", a.session(func(w http.ResponseWriter, r *http.Request, v view) {
		w.Header().Set("X-Sidecar-Action", "destroy")
		writeJSON(w, v)
	}))
	mux.HandleFunc("POST /upload", a.session(func(w http.ResponseWriter, r *http.Request, v view) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, struct {
			view
			Bytes int64 `json:"bytes"`
		}{v, n})
	}))
	mux.HandleFunc("GET /slow", a.session(func(w http.ResponseWriter, r *http.Request, v view) {
		d, err := time.ParseDuration(r.URL.Query().Get("d"))
		if err != nil {
			http.Error(w, "d must be a duration", http.StatusBadRequest)
			return
		}
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return
		}
		writeJSON(w, v)
	}))
	mux.HandleFunc("GET /echo", a.session(a.echo))
	return mux
}

// session verifies the session header, counts the request and hands the
// handler the view of it.
func (a *app) session(h func(http.ResponseWriter, *http.Request, view)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a.served.Add(1)
		if a.reqLog != nil {
			a.reqLogMu.Lock()
			fmt.Fprintf(a.reqLog, "%s %s %s\n", r.Header.Get("X-Request-Id"), r.Method, r.URL.Path)
			a.reqLogMu.Unlock()
		}
		values := r.Header.Values("X-Sidecar-Session")
		if len(values) != 1 {
			http.Error(w, fmt.Sprintf("want exactly one session header, got %d", len(values)), http.StatusUnauthorized)
			return
		}
		claims, err := a.verifier.ParseHeader(values[0])
		if err != nil {
			http.Error(w, "unverified session header", http.StatusUnauthorized)
			return
		}
		h(w, r, view{
			Server: a.name, New: claims.New, SID: claims.SID, Sub: claims.Subject,
			Data: claims.Data, Ver: claims.Version, SessionHeaders: len(values),
			RequestID: r.Header.Get("X-Request-Id"),
		})
	}
}

// echo switches to the "echo" protocol: after the 101 it writes the view
// of the handshake as one JSON line, then echoes bytes until the client
// closes its side.
func (a *app) echo(w http.ResponseWriter, r *http.Request, v view) {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "echo") {
		http.Error(w, `send "Upgrade: echo"`, http.StatusBadRequest)
		return
	}
	// Counted before the hijack, while Shutdown still waits for this
	// request, so the count is up before run waits on it.
	a.upgraded.Add(1)
	defer a.upgraded.Done()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot hijack: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	line, _ := json.Marshal(v)
	if _, err := fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n%s\n", line); err != nil {
		return
	}
	if err := brw.Flush(); err != nil {
		return
	}
	_, _ = io.Copy(conn, bufioReader{brw.Reader})
}

// bufioReader hides bufio.Reader's WriteTo so io.Copy writes each chunk
// as soon as it is read.
type bufioReader struct{ r *bufio.Reader }

func (b bufioReader) Read(p []byte) (int, error) { return b.r.Read(p) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
