package handover_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/server/handover"
)

// Example hands a listener from an old process to a new one. Both run in
// this one process here; in real life each is its own Sidecar.
func Example() {
	dir, err := os.MkdirTemp("", "handover")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "handover.sock")
	ctx := context.Background()

	// The old process finds nothing to take over, so it binds its own
	// listener, serves, and offers the listener on path.
	lns, _, err := handover.TakeOver(ctx, path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("old process inherited:", len(lns))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	conns := handover.NewConnTracker()
	oldSrv := &http.Server{Handler: answer("old"), ConnState: conns.ConnState}
	served := make(chan struct{})
	go func() { defer close(served); _ = oldSrv.Serve(ln) }() // exits when ln is closed
	drained := make(chan error, 1)
	stop, err := handover.Serve(path, map[string]net.Listener{"http": ln},
		func() { // release: stop accepting
			oldSrv.SetKeepAlivesEnabled(false)
			_ = ln.Close()
			<-served
		},
		func() { // onHandedOver: drain
			if err := conns.Wait(ctx); err != nil {
				drained <- err
				return
			}
			drained <- oldSrv.Shutdown(ctx)
		},
		zerolog.Nop())
	if err != nil {
		log.Fatal(err)
	}
	defer stop()
	fmt.Println(get(ln.Addr()))

	// The new process takes the listener over, serves on it, then tells
	// the old one.
	lns, client, err := handover.TakeOver(ctx, path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("new process inherited:", slices.Sorted(maps.Keys(lns)))
	newSrv := &http.Server{Handler: answer("new")}
	go func() { _ = newSrv.Serve(lns["http"]) }() // exits at newSrv.Close
	defer newSrv.Close()
	if err := client.Ready(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("old process drained:", <-drained)
	fmt.Println(get(ln.Addr()))

	// Output:
	// old process inherited: 0
	// old
	// new process inherited: [http]
	// old process drained: <nil>
	// new
}

func answer(body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, body) })
}

// get fetches / from addr on a fresh connection.
func get(addr net.Addr) string {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr.String())
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
