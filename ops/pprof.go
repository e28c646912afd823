package ops

import (
	"net/http"
	"net/http/pprof"
)

// PprofPrefix is where Options.Pprof serves Go's runtime profiles:
// /debug/pprof/ (the index), /debug/pprof/profile?seconds=N (CPU),
// /debug/pprof/heap, /debug/pprof/allocs, /debug/pprof/goroutine,
// /debug/pprof/trace?seconds=N and the other profiles the runtime has.
const PprofPrefix = "/debug/pprof/"

// handlePprof registers net/http/pprof's handlers on mux, under
// PprofPrefix. They go on the ops listener's own mux, never on
// http.DefaultServeMux (which importing net/http/pprof also fills, and
// which nothing in Sidecar serves).
//
// The ops listener has no token: a profile shows function names, and
// goroutine dumps show what requests are doing, and a CPU profile or a
// trace costs CPU while it runs. Keep ops.listen on loopback while
// ops.pprof is on (`sidecar check` warns otherwise).
func handlePprof(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PprofPrefix, pprof.Index) // and every named profile below it
	mux.HandleFunc("GET "+PprofPrefix+"cmdline", pprof.Cmdline)
	mux.HandleFunc("GET "+PprofPrefix+"profile", pprof.Profile)
	mux.HandleFunc("GET "+PprofPrefix+"symbol", pprof.Symbol)
	mux.HandleFunc("POST "+PprofPrefix+"symbol", pprof.Symbol) // what go tool pprof sends
	mux.HandleFunc("GET "+PprofPrefix+"trace", pprof.Trace)
}
