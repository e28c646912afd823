package ops

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
)

// probeKey is the key the store check loads: no session has it (session
// keys are hex SHA-256 digests), so a store that answers says "not
// found".
const probeKey = "sidecar-ops-readiness-probe"

// storeState is what the last store checks found; Handler.mu guards it.
type storeState struct {
	checked bool      // a check has finished
	reached bool      // a check has succeeded, ever
	up      bool      // the last check succeeded
	since   time.Time // when up last changed (or the first check)
	err     string    // the last check's error while down
}

// Start begins the background store check: one now, then one every
// Interval, until Close. Calling it again does nothing; call it before
// Close.
func (h *Handler) Start() {
	h.startOne.Do(func() {
		h.started.Store(true)
		go h.run()
	})
}

// Close stops the background check and waits for it to return (a check
// in progress is cancelled). It is safe to call more than once, and
// without Start.
func (h *Handler) Close() error {
	h.cancel()
	if h.started.Load() {
		<-h.done
	}
	return nil
}

// run checks the store until Close; it exits when h.ctx is cancelled.
func (h *Handler) run() {
	defer close(h.done)
	t := time.NewTicker(h.opts.Interval)
	defer t.Stop()
	for {
		h.checkStore(h.ctx)
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkStore asks the store once and records the answer.
func (h *Handler) checkStore(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, h.opts.Timeout)
	defer cancel()
	_, err := h.opts.Store.Load(cctx, probeKey, nil)
	if errors.Is(err, sessions.ErrNotFound) || errors.Is(err, sessions.ErrReplaced) {
		err = nil
	}
	if ctx.Err() != nil {
		return // closing: not the store's failure
	}
	h.record(err, time.Now())
}

// record updates the store's state with a check's result, logging each
// change.
func (h *Handler) record(err error, now time.Time) {
	h.mu.Lock()
	s := &h.store
	first, was := !s.checked, s.up
	s.checked = true
	s.up = err == nil
	if s.up {
		s.reached, s.err = true, ""
	} else {
		s.err = strings.ReplaceAll(err.Error(), "\n", "; ") // errors.Join's lines
	}
	if first || was != s.up {
		s.since = now
	}
	h.mu.Unlock()
	switch {
	case err != nil && (first || was):
		h.log.Warn().Err(err).Msg("readiness: the session store is not answering")
	case err == nil && !first && !was:
		h.log.Info().Msg("readiness: the session store answers again")
	}
}

// storeCheck is the store's entry in a Report.
func (h *Handler) storeCheck() Check {
	h.mu.Lock()
	s := h.store
	h.mu.Unlock()
	c := Check{Name: "store", OK: s.up, Required: !s.reached || h.opts.StoreRequired, Error: s.err}
	if s.checked {
		since := s.since.UTC()
		c.Since = &since
	}
	switch {
	case !s.checked:
		c.Detail = "not checked yet"
	case s.up:
		c.Detail = "answering"
	case !s.reached:
		c.Detail = "not reached yet: session requests get 503 until it answers"
	case h.opts.StoreRequired:
		c.Detail = "down: session requests get 503 (readiness_includes_store is on)"
	default:
		c.Detail = "down: session requests get 503 (not required for readiness once reached; see ops.readiness_includes_store)"
	}
	return c
}

// StoreUp reports whether the last store check succeeded.
func (h *Handler) StoreUp() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.store.up
}
