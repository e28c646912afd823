package admin_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/proxy/admin"
)

// Drain an upstream through the admin API, as a deploy script would.
func ExampleNew() {
	pool, _ := proxy.NewPool(proxy.PoolOptions{Upstreams: []proxy.Upstream{
		{Name: "app1", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:8081"}},
	}}, nil, zerolog.Nop())
	defer pool.Close()
	h, err := admin.New(admin.Options{Token: []byte("a-token-of-at-least-16-bytes"), Pool: pool})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h) // cmd/sidecar listens on admin.listen instead
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/upstreams/app1/drain", nil)
	req.Header.Set("Authorization", "Bearer a-token-of-at-least-16-bytes")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Print(resp.Status, " ", string(body))
	fmt.Println(pool.States()[0].State)
	// Output:
	// 200 OK {"name":"app1","url":"http://127.0.0.1:8081","weight":1,"state":"draining","healthy":true,"draining":true,"ejected":false,"in_flight":0,"served":0,"failures":0}
	// draining
}
