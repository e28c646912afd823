package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/sidecarproxy/sidecar/sessions"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

var _ net.Error = timeoutErr{}

func TestClassify(t *testing.T) {
	live := httptest.NewRequest(http.MethodGet, "/", nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	gone := live.WithContext(ctx)
	tests := []struct {
		name   string
		r      *http.Request
		err    error
		kind   errorKind
		status int
	}{
		{"bad patch", live, fmt.Errorf("x: %w", sessions.ErrBadPatch), kindApp, 502},
		{"bad action", live, sessions.ErrBadAction, kindApp, 502},
		{"too large", live, sessions.ErrTooLarge, kindApp, 502},
		{"conflicting principals", live, fmt.Errorf("x: %w", sessions.ErrBadPrincipal), kindApp, 502},
		{"response headers too large", live, fmt.Errorf("%w: app1: %w", errResponseHeaderTooLarge, errors.New("net/http: aborted")), kindApp, 502},
		{"store", live, fmt.Errorf("%w: load: boom", sessions.ErrStoreUnavailable), kindStore, 503},
		{"deadline", live, context.DeadlineExceeded, kindTimeout, 504},
		{"net timeout", live, &net.OpError{Op: "read", Err: timeoutErr{}}, kindTimeout, 504},
		{"refused", live, &net.OpError{Op: "dial", Err: errors.New("connection refused")}, kindUpstream, 502},
		{"client gone wins", gone, sessions.ErrStoreUnavailable, kindClientGone, StatusClientClosed},
		{"no upstream", live, ErrNoUpstream, kindNoUpstream, 503},
		{"lock timeout", live, errLockTimeout, kindLockTimeout, 503},
		{"lock backend down", live, fmt.Errorf("%w: x", errLockUnavailable), kindLockUnavailable, 503},
		{"guarded write lost", live, fmt.Errorf("apply: %w", sessions.ErrConflict), kindConflict, 409},
		{"write with a replaced cookie", live, fmt.Errorf("refusing: %w", sessions.ErrReplaced), kindReplaced, 409},
		{"request head too large", live, fmt.Errorf("%w: 5000 bytes", errHeaderTooLarge), kindHeaderTooLarge, 431},
		{"body too large", live, fmt.Errorf("%w: %w", errClientBody, errBodyTooLarge), kindBodyTooLarge, 413},
		{"slow upload, whose timeout ended the context", gone,
			fmt.Errorf("%w: %w: %w", errClientBody, errSlowUpload, &net.OpError{Op: "read", Err: timeoutErr{}}), kindClientTimeout, 408},
		{"malformed body", live, fmt.Errorf("%w: %w", errClientBody, errors.New("malformed chunked encoding")), kindClientBody, 400},
		{"body ended early, client half-closed", gone, fmt.Errorf("%w: %w", errClientBody, io.ErrUnexpectedEOF), kindClientBody, 400},
		{"body cut by a reset", gone, fmt.Errorf("%w: %w", errClientBody, &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}),
			kindClientGone, StatusClientClosed},
		{"no room for the body", live, fmt.Errorf("%w: disk", errBufferFull), kindBufferFull, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kind, status := classify(tt.r, tt.err)
			assert.Equal(t, tt.kind, kind)
			assert.Equal(t, tt.status, status)
		})
	}
}
