package ops_test

import (
	"fmt"
	"net/http/httptest"
	"net/url"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/ops"
	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

func ExampleHandler() {
	store := memory.New(memory.Options{})
	defer store.Close()
	app, _ := url.Parse("http://127.0.0.1:8081")
	pool, _ := proxy.NewPool(proxy.PoolOptions{Upstreams: []proxy.Upstream{{Name: "app1", URL: app}}}, nil, zerolog.Nop())
	defer pool.Close()

	h, _ := ops.New(ops.Options{Store: store, Pool: pool})
	defer h.Close()
	// h.Start() begins the background store check; until its first
	// answer /readyz is 503.
	for _, path := range []string{"/healthz", "/readyz"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, rec.Code)
	}
	fmt.Println(h.Report().Checks[0].Detail)
	// Output:
	// /healthz 200
	// /readyz 503
	// not checked yet
}
