package lockservice_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/lockservice"
)

// Take a lock, do the work, release it: what an app does over HTTP.
func ExampleNew() {
	locker := lock.NewLocal(lock.Options{}) // cmd/sidecar: lock.NewRedis or NewRedlock
	h, err := lockservice.New(lockservice.Options{Locker: locker, Token: []byte("the-apps-lock-token")})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(h) // cmd/sidecar listens on lock_service.listen instead
	defer srv.Close()

	post := func(path string, v any) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer the-apps-lock-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(v)
		return resp.StatusCode
	}

	var lease lockservice.Lease
	fmt.Println(post("/locks/nightly-report/acquire?ttl=30s&wait=5s", &lease), lease.Name, lease.Fence > 0)
	// ... the work, passing lease.Fence to what it writes ...
	var busy lockservice.ErrorResponse
	fmt.Println(post("/locks/nightly-report/acquire?ttl=30s", &busy), busy.Error)
	var done lockservice.Released
	fmt.Println(post("/locks/nightly-report/release?token="+lease.Token, &done), done.Released)
	// Output:
	// 200 nightly-report true
	// 409 not obtained
	// 200 true
}
