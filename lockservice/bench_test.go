package lockservice_test

import (
	"net/http"
	"testing"

	"github.com/sidecarproxy/sidecar/lockservice"
)

// BenchmarkAcquireRelease is an uncontended acquire followed by a
// release, each a POST over a kept-alive HTTP connection to a service on
// a real redis-server: the cost an app pays around a critical section.
func BenchmarkAcquireRelease(b *testing.B) {
	e, _ := newRedis(b)
	client := &http.Client{Transport: &http.Transport{}}
	b.Cleanup(client.CloseIdleConnections)
	b.ReportAllocs()
	for b.Loop() {
		var l lockservice.Lease
		status, er, err := e.call(client, "/locks/bench/acquire?ttl=10s", &l)
		if err != nil || status != http.StatusOK {
			b.Fatalf("acquire: %d %+v %v", status, er, err)
		}
		status, er, err = e.call(client, "/locks/bench/release?token="+l.Token, nil)
		if err != nil || status != http.StatusOK {
			b.Fatalf("release: %d %+v %v", status, er, err)
		}
	}
}
