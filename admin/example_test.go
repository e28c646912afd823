package admin_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/rs/zerolog"

	"github.com/sidecarproxy/sidecar/admin"
	"github.com/sidecarproxy/sidecar/proxy"
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
	// 200 OK {"name":"app1","url":"http://127.0.0.1:8081","weight":1,"state":"draining","healthy":true,"draining":true,"ejected":false,"in_flight":0,"served":0,"failures":0,"ejections":0}
	// draining
}

// Drain an upstream, wait until it has no request in flight, and put it
// back: a deploy step, from Go.
func ExampleClient() {
	pool, _ := proxy.NewPool(proxy.PoolOptions{Upstreams: []proxy.Upstream{
		{Name: "app1", URL: &url.URL{Scheme: "http", Host: "127.0.0.1:8081"}},
	}}, nil, zerolog.Nop())
	defer pool.Close()
	h, err := admin.New(admin.Options{Token: []byte("a-token-of-at-least-16-bytes"), Pool: pool})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	// The admin.listen address would do as well as a URL.
	c, err := admin.NewClient(srv.URL, []byte("a-token-of-at-least-16-bytes"), nil)
	if err != nil {
		panic(err)
	}
	defer c.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	st, err := c.SetDraining(ctx, "app1", true)
	if err != nil {
		panic(err)
	}
	fmt.Println(st.Name, st.State)
	st, err = c.Wait(ctx, "app1", func(s proxy.State) bool { return s.InFlight == 0 }, time.Second)
	if err != nil {
		panic(err) // errors.Is(err, admin.ErrNotReached): requests still in flight at the deadline
	}
	fmt.Println(st.Name, st.InFlight, "in flight")
	// ... restart the app ...
	st, err = c.SetDraining(ctx, "app1", false)
	if err != nil {
		panic(err)
	}
	fmt.Println(st.Name, st.State)
	// Output:
	// app1 draining
	// app1 0 in flight
	// app1 up
}
