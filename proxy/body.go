package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync/atomic"
)

// readBody reads r's body from the client, as Limits describes, before
// anything else is done for the request, into st.body; st.releaseBody
// gives its memory and file back. An error wraps errClientBody (the
// client's fault: 400, 408, 413) or is errBufferFull (503).
func (p *Proxy) readBody(w http.ResponseWriter, r *http.Request, st *reqState) error {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil
	}
	var src io.Reader = r.Body
	if st.guard = newUploadGuard(w, r.Body, p.limits); st.guard != nil {
		src = st.guard
	}
	st.bodyIn = &bodyCounter{r: src, max: p.limits.MaxBodyBytes}
	body, err := p.buffers.read(st.bodyIn, r.ContentLength, p.pool.state.Load().opts.Retry.BufferBytes)
	st.body = body
	return err
}

// releaseBody gives the request body's memory and file back; it runs when
// the request ends, however it ends.
func (st *reqState) releaseBody() {
	st.guard.end()
	if st.body != nil && st.body.spool != nil {
		st.body.spool.release()
	}
}

// read buffers src, a body of contentLength bytes (-1: unknown), holding
// at most memLimit bytes of it in memory (negative: none). The replayBody
// is returned even with an error, to be released.
func (b *bodyBuffers) read(src io.Reader, contentLength, memLimit int64) (*replayBody, error) {
	if b.memory.limit <= 0 {
		memLimit = 0
	}
	if memLimit <= 0 && b.maxFile <= 0 {
		return &replayBody{stream: &onceBody{r: src}}, nil
	}
	s := b.newSpool(contentLength, memLimit)
	rb := &replayBody{spool: s}
	complete, prefix, err := s.fill(src)
	switch {
	case errors.Is(err, errBufferFull):
		return rb, err
	case err != nil:
		return rb, fmt.Errorf("%w: %w", errClientBody, err)
	case !complete:
		rb.stream = &onceBody{r: io.MultiReader(s.reader(), bytes.NewReader(prefix), src)}
	}
	return rb, nil
}

// memoryBody buffers req's body in memory up to limit bytes, with no
// budget: for a poolTransport used without a Proxy (which reads bodies
// under its Limits first).
func memoryBody(req *http.Request, limit int64) (*replayBody, error) {
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 {
		return &replayBody{}, nil
	}
	b := &bodyBuffers{}
	b.memory.limit = math.MaxInt64
	return b.read(req.Body, req.ContentLength, limit)
}

// bodyCounter counts the bytes read from the client and fails with
// errBodyTooLarge once more than max were read (a chunked body; a
// Content-Length over max was refused before). The count may be read on
// any goroutine: a streamed body is read by the transport.
type bodyCounter struct {
	r   io.Reader
	max int64 // <= 0: no limit
	n   atomic.Int64
}

func (c *bodyCounter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if total := c.n.Add(int64(n)); c.max > 0 && total > c.max {
		return n, fmt.Errorf("%w: more than %d bytes", errBodyTooLarge, c.max)
	}
	return n, err
}

// replayBody gives each try its own view of the request body: a fresh
// reader over the buffered bytes (memory and temporary file), or for a
// body too large to buffer the one stream (the buffered part, then the
// rest from the client), usable again only while no byte of it has been
// read. A zero replayBody is no body.
type replayBody struct {
	spool  *spool    // the buffered part, when any was
	stream *onceBody // when the body is not buffered whole
}

// buffered reports whether the whole body is held, so every try can send
// it again, with a Content-Length.
func (rb *replayBody) buffered() bool { return rb != nil && rb.spool != nil && rb.stream == nil }

// readAhead reports whether Sidecar read the body, or its start, before
// the first try.
func (rb *replayBody) readAhead() bool { return rb != nil && rb.spool != nil }

// mode names where the body went, for the access log: "memory", "file"
// or "stream"; "" without a body.
func (rb *replayBody) mode() string {
	switch {
	case rb == nil || rb.spool == nil && rb.stream == nil:
		return ""
	case rb.stream != nil:
		return "stream"
	}
	return rb.spool.mode()
}

// attempt returns the Body, GetBody and ContentLength for one try.
func (rb *replayBody) attempt(req *http.Request) (io.ReadCloser, func() (io.ReadCloser, error), int64) {
	switch {
	case rb.stream != nil:
		return rb.stream, nil, req.ContentLength
	case rb.spool == nil:
		return req.Body, nil, req.ContentLength
	case rb.spool.size == 0: // a chunked body of no bytes
		return http.NoBody, func() (io.ReadCloser, error) { return http.NoBody, nil }, 0
	}
	get := func() (io.ReadCloser, error) { return io.NopCloser(rb.spool.reader()), nil }
	body, _ := get()
	return body, get, rb.spool.size
}

func (rb *replayBody) replayable() bool {
	return rb.stream == nil || !rb.stream.read.Load()
}

// clientErr returns the error reading the streamed body from the client
// failed with, or nil: a try that failed with it failed for the client's
// fault, not the upstream's.
func (rb *replayBody) clientErr() error {
	if rb.stream == nil {
		return nil
	}
	if e := rb.stream.err.Load(); e != nil {
		return *e
	}
	return nil
}

// onceBody passes a stream through, remembering whether any byte was read
// and the first read error other than io.EOF; Close is left to the server,
// so a failed try does not end it.
type onceBody struct {
	r    io.Reader
	read atomic.Bool
	err  atomic.Pointer[error]
}

func (o *onceBody) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	if n > 0 {
		o.read.Store(true)
	}
	if err != nil && err != io.EOF {
		o.err.CompareAndSwap(nil, &err)
	}
	return n, err
}

func (o *onceBody) Close() error { return nil }
