package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// uploadGuard reads a request body from the client under Limits'
// BodyReadTimeout and MinUploadRate: before each read it sets the
// connection's read deadline (http.ResponseController) to the earlier of
// now + BodyReadTimeout and start + MinUploadGrace + n/MinUploadRate, n the
// bytes read so far. A read that passes it fails with errSlowUpload. The
// deadlines are wall-clock times for the kernel's timers, so the guard
// uses time.Now and not the Proxy's Clock.
//
// Once the body has been read to its end the deadline is cleared: net/http
// then starts its background read of the connection (to notice a client
// that goes away), which must not time out while the app answers. (Go
// starts that read inside the body's last Read, a few instructions before
// the clear; a deadline that passes in between ends the request as if the
// client had gone.)
type uploadGuard struct {
	r     io.Reader
	rc    *http.ResponseController
	idle  time.Duration // BodyReadTimeout; <= 0: none
	rate  int64         // MinUploadRate; <= 0: none
	grace time.Duration // MinUploadGrace; < 0: none
	start time.Time
	n     int64
	armed bool // a deadline is set on the connection
	off   bool // the connection does not take deadlines
	// ended is set when the handler returns: a transport still reading a
	// streamed body must not set deadlines on a connection that may be
	// reading its next request.
	ended atomic.Bool
}

// newUploadGuard guards reads of body, the body of the request that w
// answers; it returns nil when no limit applies.
func newUploadGuard(w http.ResponseWriter, body io.Reader, l Limits) *uploadGuard {
	if l.BodyReadTimeout <= 0 && l.MinUploadRate <= 0 {
		return nil
	}
	return &uploadGuard{r: body, rc: http.NewResponseController(w), idle: l.BodyReadTimeout,
		rate: l.MinUploadRate, grace: max(l.MinUploadGrace, 0), start: time.Now()}
}

// end stops setting deadlines; the handler calls it as it returns. It may
// run while another goroutine reads.
func (g *uploadGuard) end() {
	if g != nil {
		g.ended.Store(true)
	}
}

// deadline is the read deadline at now after n bytes; byRate says
// whether MinUploadRate sets it rather than BodyReadTimeout.
func (g *uploadGuard) deadline(now time.Time, n int64) (dl time.Time, byRate bool) {
	if g.idle > 0 {
		dl = now.Add(g.idle)
	}
	if g.rate > 0 {
		allowed := g.grace + time.Duration(n/g.rate)*time.Second + time.Duration(n%g.rate)*time.Second/time.Duration(g.rate)
		if rd := g.start.Add(allowed); dl.IsZero() || rd.Before(dl) {
			return rd, true
		}
	}
	return dl, false
}

func (g *uploadGuard) Read(p []byte) (int, error) {
	byRate := false
	if !g.off && !g.ended.Load() {
		var dl time.Time
		dl, byRate = g.deadline(time.Now(), g.n)
		if err := g.rc.SetReadDeadline(dl); err != nil {
			g.off = true // e.g. a ResponseWriter without a connection
		} else {
			g.armed = true
		}
	}
	n, err := g.r.Read(p)
	g.n += int64(n)
	switch {
	case err == io.EOF:
		g.disarm()
	case err != nil && g.armed && isTimeout(err):
		which := fmt.Sprintf("no data for %v (body_read_timeout)", g.idle)
		if byRate {
			which = fmt.Sprintf("slower than %d bytes/s after %v (min_upload_rate)", g.rate, g.grace)
		}
		err = fmt.Errorf("%w after %d bytes: %s: %w", errSlowUpload, g.n, which, err)
	}
	return n, err
}

// disarm clears the read deadline.
func (g *uploadGuard) disarm() {
	if g.armed && !g.ended.Load() {
		g.armed = false
		_ = g.rc.SetReadDeadline(time.Time{})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
