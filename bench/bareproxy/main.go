// Command bareproxy is the baseline of the load comparison in bench/: a
// bare httputil.ReverseProxy tuned the way Sidecar's own is (the transport
// in proxy/transport.go, the 32 KiB pooled copy buffer, the client-side
// server timeouts in server/), with no session work at all. The
// difference between it and Sidecar is the cost of sessions.
//
// It takes its transport and copy-buffer pool from package proxy, so the
// two can never be tuned differently; everything else is the standard
// library.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"

	"github.com/sidecarproxy/sidecar/proxy"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8080", "address to listen on")
	upstream := flag.String("upstream", "http://127.0.0.1:8081", "base URL of the app")
	flag.Parse()

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
	log.Printf("bareproxy listening on %s, upstream %s", *listen, up)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "bareproxy:", err)
		os.Exit(1)
	}
}
