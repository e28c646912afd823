package proxy_test

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/stores/memory"
)

// BenchmarkProxyPOST sends b.N POSTs with a body of each size through
// Sidecar (memory store, no session) to an app that reads the body whole;
// with -benchmem it shows the cost of buffering bodies for replay. It uses
// only the package's exported API, so the same file runs against older
// commits for comparison.
func BenchmarkProxyPOST(b *testing.B) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/write" { // benchSidecar's first request
			w.Header().Set("X-Sidecar-Patch", `{"counter":1}`)
		}
		n, _ := io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
	}))
	b.Cleanup(app.Close)
	u, err := url.Parse(app.URL)
	require.NoError(b, err)
	store := memory.New(memory.Options{})
	b.Cleanup(func() { _ = store.Close() })
	base, _ := benchSidecar(b, store, u)
	c := benchClient()
	for _, size := range []int{1 << 10, 64 << 10, 512 << 10} {
		body := bytes.Repeat([]byte("b"), size)
		want := strconv.Itoa(size)
		b.Run(strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				resp, err := c.Post(base+"/upload", "application/octet-stream", bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || string(got) != want {
					b.Fatalf("status %d, body %q", resp.StatusCode, got)
				}
			}
		})
	}
}
