// Command bareproxy is the baseline of the load comparison in bench/: a
// bare httputil.ReverseProxy tuned the way Sidecar's own is (the transport
// in proxy/transport.go, the 32 KiB pooled copy buffer, the client-side
// server timeouts in server/, the garbage collector's heap floor of
// runtime.gc_min_heap_bytes), with no session work at all. The
// difference between it and Sidecar is the cost of sessions.
//
// It takes its transport and copy-buffer pool from package proxy, so the
// two can never be tuned differently; everything else is the standard
// library.
//
// With -metrics-listen it also answers GET /metrics there, on a listener
// of its own as Sidecar's ops.listen is, with the two allocation counters
// bench/run.sh reads of both proxies, in Prometheus's text format and
// under the names client_golang's Go collector gives them:
// go_memstats_mallocs_total and go_memstats_alloc_bytes_total.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"time"

	"github.com/sidecarproxy/sidecar/internal/gcfloor"
	"github.com/sidecarproxy/sidecar/proxy"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	upstream := flag.String("upstream", "http://127.0.0.1:8081", "base URL of the app")
	metricsListen := flag.String("metrics-listen", "", "address of GET /metrics (the allocation counters); empty: none")
	gcMinHeap := flag.Uint64("gc-min-heap", gcfloor.DefaultMinHeap, "heap in bytes below which the garbage collector does not run, as Sidecar's runtime.gc_min_heap_bytes; 0: Go's default")
	flag.Parse()
	defer gcfloor.Start(*gcMinHeap)()

	up, err := url.Parse(*upstream)
	if err != nil || up.Scheme == "" || up.Host == "" {
		fmt.Fprintf(os.Stderr, "bareproxy: -upstream %q is not an absolute URL\n", *upstream)
		os.Exit(2)
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(up)
			pr.SetXForwarded()
		},
		Transport: proxy.NewTransport(proxy.TransportOptions{}), // Sidecar's own

		BufferPool: proxy.NewBufferPool(), // Sidecar's own
	}
	srv := &http.Server{
		Addr:              *listen,
		Handler:           rp,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	if *metricsListen != "" {
		go serveMetrics(*metricsListen)
	}
	log.Printf("bareproxy listening on %s, upstream %s", *listen, up)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "bareproxy:", err)
		os.Exit(1)
	}
}

// serveMetrics answers GET /metrics on addr until the process exits; it
// exits the process when addr cannot be served.
func serveMetrics(addr string) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, _ *http.Request) {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprintf(w, "# TYPE go_memstats_mallocs_total counter\ngo_memstats_mallocs_total %d\n", m.Mallocs)
		fmt.Fprintf(w, "# TYPE go_memstats_alloc_bytes_total counter\ngo_memstats_alloc_bytes_total %d\n", m.TotalAlloc)
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(os.Stderr, "bareproxy: -metrics-listen:", srv.ListenAndServe())
	os.Exit(1)
}
