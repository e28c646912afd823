package integration

import (
	"flag"
	"net/http"
	"testing"
	"time"
)

var benchPOSTs = flag.Int("rolling.posts", 50000, "BenchmarkRollingRestartPOSTs: POSTs per run")

// BenchmarkRollingRestartPOSTs measures how many POSTs fail while app
// servers that close the instant SIGTERM arrives (no lame duck) are
// restarted one after another, over and over, behind the sidecar binary on
// its shipped defaults: the failure rate of issue 8's scenario, over at
// least -rolling.posts POSTs (50,000) per run. Run it with
//
//	go test -run '^$' -bench RollingRestartPOSTs -benchtime 1x ./integration/
//
// It reports POSTs, restarts, failed POSTs (by cause in the log) and the
// failure rate per 100,000 POSTs, and fails on any 503 or failed GET. To
// compare commits, build each one's cmd/sidecar and point
// INTEGRATION_SIDECAR_BIN at it, alternating runs.
func BenchmarkRollingRestartPOSTs(b *testing.B) {
	const (
		downFor = 1500 * time.Millisecond // SIGTERM to the next start
		every   = 4 * time.Second         // SIGTERM to the next app's SIGTERM
	)
	for b.Loop() {
		c := newDefaultsCluster(b, 3)
		l := startLoad(b, c.sidecar.URL(), loadOptions{MaxTime: 30 * time.Minute})
		l.progress(100)
		begin, restarts := time.Now(), 0
		for l.snapshot().ByMethod[http.MethodPost] < *benchPOSTs {
			a := c.apps[restarts%len(c.apps)]
			sigterm := time.Now()
			a.stop()
			time.Sleep(time.Until(sigterm.Add(downFor))) // the scenario's schedule
			a.start()
			restarts++
			time.Sleep(time.Until(sigterm.Add(every)))
		}
		stats := l.Stop()
		posts, gets := stats.failed(http.MethodPost), stats.failed(http.MethodGet)
		s503 := stats.withStatus(http.StatusServiceUnavailable)
		causes := c.failureCauses(stats.Failures)
		handled := 0 // failed POSTs an app ran anyway: the client was told wrong
		for _, f := range posts {
			if where := c.whereDidItGo(f.RequestID); where != "no app received it" {
				handled++
				b.Logf("failed POST an app handled: %s; %s", f, where)
			}
		}
		b.Logf("%d POSTs, %d GETs, %d restarts in %v: %d failed POSTs %v (%d handled by an app), %d failed GETs %v, %d 503s",
			stats.ByMethod[http.MethodPost], stats.ByMethod[http.MethodGet], restarts, time.Since(begin).Round(time.Second),
			len(posts), causes[http.MethodPost], handled, len(gets), causes[http.MethodGet], s503)
		if s503 > 0 || len(gets) > 0 || handled > 0 {
			b.Errorf("%d 503s, %d failed GETs and %d failed POSTs an app handled while at least one app listened", s503, len(gets), handled)
		}
		b.ReportMetric(float64(stats.ByMethod[http.MethodPost]), "POSTs")
		b.ReportMetric(float64(restarts), "restarts")
		b.ReportMetric(float64(len(posts)), "failedPOSTs")
		b.ReportMetric(float64(len(posts))*1e5/float64(stats.ByMethod[http.MethodPost]), "failed/1e5POSTs")
		c.sidecar.stop()
	}
}
