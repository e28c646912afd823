package handover

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pendingCount is how many connections Wait would wait for.
func (t *ConnTracker) pendingCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pending)
}

// hoEnded is a context that has already ended: Wait with it only says
// whether a connection is pending, without waiting.
func hoEnded() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// TestConnTrackerStates: which ConnState sequences leave a plain (not TLS)
// connection pending.
func TestConnTrackerStates(t *testing.T) {
	tests := []struct {
		name    string
		states  []http.ConnState
		pending bool
	}{
		{"never seen", nil, false},
		{"accepted, no request yet", []http.ConnState{http.StateNew}, true},
		{"closed", []http.ConnState{http.StateNew, http.StateClosed}, false},
		{"hijacked", []http.ConnState{http.StateNew, http.StateHijacked}, false},
		{"HTTP/1 answered, kept alive", []http.ConnState{http.StateNew, http.StateActive, http.StateIdle}, true},
		{"HTTP/1 answered, then closed", []http.ConnState{http.StateNew, http.StateActive, http.StateIdle, http.StateClosed}, false},
		{"closed without StateNew", []http.ConnState{http.StateClosed}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewConnTracker()
			c, peer := net.Pipe()
			defer c.Close()
			defer peer.Close()
			for _, s := range tt.states {
				tr.ConnState(c, s)
			}
			err := tr.Wait(hoEnded())
			if !tt.pending {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, context.Canceled)
			assert.ErrorContains(t, err, "1 connections still open")
		})
	}
}

// TestConnTrackerWaitsForTheLast: Wait returns once the last pending
// connection is done, not the first.
func TestConnTrackerWaitsForTheLast(t *testing.T) {
	tr := NewConnTracker()
	c1, p1 := net.Pipe()
	defer c1.Close()
	defer p1.Close()
	c2, p2 := net.Pipe()
	defer c2.Close()
	defer p2.Close()
	tr.ConnState(c1, http.StateNew)
	tr.ConnState(c2, http.StateNew)

	ctx, cancel := context.WithTimeout(context.Background(), hoWait)
	defer cancel()
	waited := make(chan error, 1)
	go func() { waited <- tr.Wait(ctx) }() // exits when no connection is pending, or ctx ends

	tr.ConnState(c1, http.StateClosed)
	select {
	case err := <-waited:
		require.FailNow(t, "Wait returned with a connection still pending", "%v", err)
	default:
	}
	assert.Equal(t, 1, tr.pendingCount())
	tr.ConnState(c2, http.StateClosed)
	assert.NoError(t, hoRecv(t, waited, "Wait to return after the last connection closed"))
}

// TestConnTrackerTLS runs a real TLS server: an HTTP/2 connection stops
// being pending once its protocol is known (Shutdown's GOAWAY drains it),
// an HTTP/1 one only when it closes.
func TestConnTrackerTLS(t *testing.T) {
	tests := []struct {
		name      string
		http2     bool
		wantProto int
	}{
		{"HTTP/2 is left to Shutdown", true, 2},
		{"HTTP/1 is pending until closed", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := NewConnTracker()
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, "ok")
			}))
			srv.EnableHTTP2 = true
			srv.Config.ConnState = tr.ConnState
			srv.StartTLS()
			defer srv.Close()
			tlsConf := srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
			tr1 := &http.Transport{TLSClientConfig: tlsConf, ForceAttemptHTTP2: tt.http2}
			if !tt.http2 {
				tr1.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // HTTP/1 only
			}
			defer tr1.CloseIdleConnections()
			client := &http.Client{Transport: tr1, Timeout: hoWait}

			resp, err := client.Get(srv.URL)
			require.NoError(t, err)
			_, err = io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			require.Equal(t, tt.wantProto, resp.ProtoMajor)

			// The connection stays open, kept alive by the client.
			ctx, cancel := context.WithTimeout(context.Background(), hoWait)
			defer cancel()
			if tt.http2 {
				assert.NoError(t, tr.Wait(ctx), "an idle HTTP/2 connection is not pending")
				return
			}
			assert.ErrorIs(t, tr.Wait(hoEnded()), context.Canceled, "an idle HTTP/1 connection is pending")
			tr1.CloseIdleConnections()
			assert.NoError(t, tr.Wait(ctx), "the closed HTTP/1 connection is not pending")
		})
	}
}
