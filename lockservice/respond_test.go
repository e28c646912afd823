package lockservice

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/sidecarproxy/sidecar/lock"
)

// statusOf is the one mapping from errors to statuses; these are the
// shapes package lock returns them in.
func TestStatusOf(t *testing.T) {
	unavailable := fmt.Errorf("%w: quorum of 1 of 1 not reached: dial tcp: refused", lock.ErrUnavailable)
	for name, tc := range map[string]struct {
		err    error
		status int
		msg    string
	}{
		"bad parameter": {badParam("ttl", "ttl is required"), http.StatusBadRequest, "ttl is required"},
		"held by another": {fmt.Errorf("%w: %q is held by another", lock.ErrNotObtained, "app:x"),
			http.StatusConflict, "not obtained"},
		"not obtained, Redis down": {fmt.Errorf("%w: %q: %w", lock.ErrNotObtained, "app:x", unavailable),
			http.StatusServiceUnavailable, "lock backend unavailable"},
		"client left while waiting": {errors.Join(fmt.Errorf("%w: %q is held by another", lock.ErrNotObtained, "app:x"), context.Canceled),
			statusClientClosedRequest, "client closed request"},
		"client left, Redis down": {errors.Join(fmt.Errorf("%w: %q: %w", lock.ErrNotObtained, "app:x", unavailable), context.Canceled),
			statusClientClosedRequest, "client closed request"},
		"not held":           {fmt.Errorf("lock: releasing %q: %w", "app:x", lock.ErrNotHeld), http.StatusConflict, "not held"},
		"extend, Redis down": {fmt.Errorf("lock: extending %q: %w", "app:x", unavailable), http.StatusServiceUnavailable, "lock backend unavailable"},
		"call timed out":     {fmt.Errorf("lock: releasing %q: %w", "app:x", context.DeadlineExceeded), http.StatusServiceUnavailable, "lock backend unavailable"},
		"anything else":      {errors.New("surprise"), http.StatusServiceUnavailable, "lock backend unavailable"},
	} {
		t.Run(name, func(t *testing.T) {
			status, body := statusOf(tc.err)
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.msg, body.Error)
		})
	}
}
