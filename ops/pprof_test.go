package ops_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/ops"
)

func TestPprof(t *testing.T) {
	get := func(h http.Handler, method, path string) *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec
	}

	t.Run("off by default, although net/http/pprof filled the DefaultServeMux", func(t *testing.T) {
		h := newHandler(t, ops.Options{Store: newFaultyStore(t, storeOK), Pool: newPool(t, "a")})
		for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile?seconds=1", "/debug/pprof/cmdline"} {
			assert.Equal(t, http.StatusNotFound, get(h, http.MethodGet, p).Code, p)
		}
		assert.Equal(t, http.StatusOK, get(http.DefaultServeMux, http.MethodGet, "/debug/pprof/cmdline").Code,
			"the test would prove nothing if the DefaultServeMux had no pprof")
	})

	t.Run("on", func(t *testing.T) {
		h := newHandler(t, ops.Options{Store: newFaultyStore(t, storeOK), Pool: newPool(t, "a"), Pprof: true})

		rec := get(h, http.MethodGet, ops.PprofPrefix)
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Contains(t, rec.Body.String(), "goroutine", "the index lists the profiles")
		assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))

		rec = get(h, http.MethodGet, "/debug/pprof/goroutine?debug=1")
		require.Equal(t, http.StatusOK, rec.Code)
		assert.Contains(t, rec.Body.String(), "goroutine profile:", "named profiles are served below the index")

		rec = get(h, http.MethodGet, "/debug/pprof/profile?seconds=1")
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		assert.True(t, bytes.HasPrefix(rec.Body.Bytes(), []byte{0x1f, 0x8b}), "a CPU profile is gzipped protobuf")

		assert.Equal(t, http.StatusOK, get(h, http.MethodPost, "/debug/pprof/symbol").Code, "go tool pprof POSTs symbol lookups")
		assert.Equal(t, http.StatusMethodNotAllowed, get(h, http.MethodPost, "/debug/pprof/heap").Code)
		assert.Equal(t, http.StatusOK, get(h, http.MethodGet, "/healthz").Code, "the probes still answer")
	})
}
