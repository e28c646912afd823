package metrics_test

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/sidecarproxy/sidecar/ops/metrics"
	"github.com/sidecarproxy/sidecar/proxy"
)

func ExampleMetrics() {
	m := metrics.New(metrics.Options{})
	// proxy.New(proxy.Options{Observer: m, ...}) reports each request so:
	m.Request(proxy.RequestInfo{Status: 200, Upstream: "app1", Duration: 4 * time.Millisecond})

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	sc := bufio.NewScanner(rec.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), `sidecar_requests_total{code="2xx"`) {
			fmt.Println(sc.Text())
		}
	}
	// Output:
	// sidecar_requests_total{code="2xx",upstream="app1"} 1
}
