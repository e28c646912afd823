package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
)

// Chunk sizes of a body held in memory: each new chunk is as large as what
// the body holds already, from minChunk up to maxChunk, so the memory
// reserved is at most twice what arrived plus minChunk, however large the
// Content-Length. fileChunk is the read buffer of a body going to its
// temporary file.
const (
	minChunk  = 4 << 10
	maxChunk  = 256 << 10
	fileChunk = 32 << 10
)

// errSpoolFull ends a spool's fill at its per-request limits: the rest of
// the body is streamed.
var errSpoolFull = errors.New("proxy: per-request body buffer full")

// bodyBuffers holds the process-wide budgets of buffered request bodies
// (see Limits).
type bodyBuffers struct {
	memory  budget
	disk    budget
	files   atomic.Int64 // temporary files open
	maxFile int64        // per request; <= 0: no temporary files
	dir     string
}

func newBodyBuffers(o BufferOptions) *bodyBuffers {
	b := &bodyBuffers{maxFile: o.MaxFileBytes, dir: o.TempDir}
	b.memory.limit, b.disk.limit = o.MemoryBytes, o.DiskBytes
	if o.DiskBytes <= 0 {
		b.maxFile = 0
	}
	return b
}

// budget is a byte budget shared by concurrent requests.
type budget struct {
	limit int64 // <= 0: nothing may be reserved
	used  atomic.Int64
}

// reserve takes n bytes from the budget, or reports that they are not
// there.
func (b *budget) reserve(n int64) bool {
	for {
		u := b.used.Load()
		if u+n > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+n) {
			return true
		}
	}
}

func (b *budget) release(n int64) {
	if n != 0 {
		b.used.Add(-n)
	}
}

// BufferStats is what buffered request bodies hold at one moment.
type BufferStats struct {
	// MemoryBytes is the memory reserved by bodies held in memory.
	MemoryBytes int64
	// DiskBytes is the size of the temporary files.
	DiskBytes int64
	// Files is the number of temporary files open (all already unlinked).
	Files int64
}

func (b *bodyBuffers) stats() BufferStats {
	return BufferStats{MemoryBytes: b.memory.used.Load(), DiskBytes: b.disk.used.Load(), Files: b.files.Load()}
}

// spool is one request body, as much of it as was buffered: chunks in
// memory, then an unlinked temporary file. It is filled by one goroutine;
// once filled, its readers may run on any goroutine while it is not
// released.
type spool struct {
	b             *bodyBuffers
	memLimit      int64 // this request's memory (RetryOptions.BufferBytes)
	fileLimit     int64 // this request's temporary file
	contentLength int64 // -1 when unknown

	chunks      [][]byte // len: the bytes held, cap: the bytes reserved
	memReserved int64
	memFull     bool // the process-wide memory budget refused a chunk
	size        int64
	file        *os.File
	fileName    string // until it is unlinked
	fileSize    int64
	scratch     []byte
	released    bool
}

// newSpool starts a spool for a body of contentLength (-1: unknown) that
// may hold memLimit bytes in memory.
func (b *bodyBuffers) newSpool(contentLength, memLimit int64) *spool {
	return &spool{b: b, memLimit: max(memLimit, 0), fileLimit: b.maxFile, contentLength: contentLength}
}

// fill reads r into the spool until r ends (complete) or the spool's
// per-request limits are reached; then it reads one more byte to tell, and
// returns it as prefix, the first byte of the rest to stream. err is r's
// error, or errBufferFull when the process-wide budgets are used up before
// r ends.
func (s *spool) fill(r io.Reader) (complete bool, prefix []byte, err error) {
	for {
		buf, toFile, err := s.space()
		if err != nil {
			// Out of room: unless r has ended (a body of exactly the
			// room left), stream the rest or refuse the body.
			complete, prefix, perr := s.probe(r)
			if complete || perr != nil || errors.Is(err, errSpoolFull) {
				return complete, prefix, perr
			}
			return false, nil, err
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if err := s.commit(buf[:n], toFile); err != nil {
				return false, nil, err
			}
		}
		switch {
		case rerr == io.EOF:
			return true, nil, nil
		case rerr != nil:
			return false, nil, rerr
		}
	}
}

// space returns where the next bytes go: the rest of the last chunk, a
// new chunk, or the file's read buffer.
func (s *spool) space() (buf []byte, toFile bool, err error) {
	if k := len(s.chunks); k > 0 {
		if last := s.chunks[k-1]; len(last) < cap(last) {
			return last[len(last):cap(last)], false, nil
		}
	}
	if !s.memFull && s.memReserved < s.memLimit {
		n := s.nextChunk()
		if s.b.memory.reserve(n) {
			s.memReserved += n
			s.chunks = append(s.chunks, make([]byte, 0, n))
			return s.chunks[len(s.chunks)-1][:n], false, nil
		}
		s.memFull = true
	}
	switch {
	case s.fileLimit <= 0 && s.memFull:
		return nil, false, fmt.Errorf("%w: the memory budget for bodies is used up and temporary files are off", errBufferFull)
	case s.fileSize >= s.fileLimit:
		return nil, false, errSpoolFull
	}
	if s.scratch == nil {
		s.scratch = make([]byte, fileChunk)
	}
	return s.scratch[:min(int64(len(s.scratch)), s.fileLimit-s.fileSize)], true, nil
}

// nextChunk is the size of the next memory chunk.
func (s *spool) nextChunk() int64 {
	n := min(max(s.memReserved, minChunk), maxChunk)
	if rest := s.contentLength - s.size; s.contentLength > 0 && rest > 0 && rest < n {
		n = rest
	}
	return min(n, s.memLimit-s.memReserved)
}

// commit keeps p, just read into buf from space.
func (s *spool) commit(p []byte, toFile bool) error {
	if !toFile {
		k := len(s.chunks) - 1
		s.chunks[k] = s.chunks[k][:len(s.chunks[k])+len(p)]
		s.size += int64(len(p))
		return nil
	}
	n := int64(len(p))
	if !s.b.disk.reserve(n) {
		return fmt.Errorf("%w: the memory and disk budgets for bodies are used up", errBufferFull)
	}
	if s.file == nil {
		if err := s.createFile(); err != nil {
			s.b.disk.release(n)
			return err
		}
	}
	if _, err := s.file.Write(p); err != nil {
		s.b.disk.release(n)
		return fmt.Errorf("%w: writing the temporary file: %w", errBufferFull, err)
	}
	s.fileSize += n
	s.size += n
	return nil
}

// createFile opens the temporary file and unlinks it at once, so that it
// leaves nothing behind however the process ends.
func (s *spool) createFile() error {
	f, err := os.CreateTemp(s.b.dir, "sidecar-body-*")
	if err != nil {
		return fmt.Errorf("%w: creating a temporary file: %w", errBufferFull, err)
	}
	s.file = f
	s.b.files.Add(1)
	if os.Remove(f.Name()) != nil {
		s.fileName = f.Name() // removed at release instead
	}
	return nil
}

// probe reads until one byte or the end of r: complete when r ended.
func (s *spool) probe(r io.Reader) (complete bool, prefix []byte, err error) {
	one := make([]byte, 1)
	for {
		n, err := r.Read(one)
		switch {
		case n > 0:
			return false, one, nil
		case err == io.EOF:
			return true, nil, nil
		case err != nil:
			return false, nil, err
		}
	}
}

// reader returns a new reader of the bytes held.
func (s *spool) reader() io.Reader {
	if len(s.chunks) == 1 && s.fileSize == 0 {
		return bytes.NewReader(s.chunks[0])
	}
	r := &spoolReader{chunks: s.chunks}
	if s.fileSize > 0 {
		r.file = io.NewSectionReader(s.file, 0, s.fileSize)
	}
	return r
}

// spoolReader reads a spool's chunks, then its file; the spool itself is
// never modified, so each try reads it afresh. Its WriteTo writes the
// chunks as they are, without the copy buffer io.MultiReader's allocates
// for every request.
type spoolReader struct {
	chunks [][]byte
	i, off int               // the next byte: chunks[i][off]
	file   *io.SectionReader // nil without a file
}

func (r *spoolReader) Read(p []byte) (int, error) {
	for ; r.i < len(r.chunks); r.i, r.off = r.i+1, 0 {
		if c := r.chunks[r.i][r.off:]; len(c) > 0 {
			n := copy(p, c)
			r.off += n
			return n, nil
		}
	}
	if r.file != nil {
		return r.file.Read(p)
	}
	return 0, io.EOF
}

func (r *spoolReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for ; r.i < len(r.chunks); r.i, r.off = r.i+1, 0 {
		n, err := w.Write(r.chunks[r.i][r.off:])
		total += int64(n)
		r.off += n
		if err != nil {
			return total, err
		}
	}
	if r.file != nil {
		n, err := io.Copy(w, r.file)
		return total + n, err
	}
	return total, nil
}

// mode names where the body went, for the access log.
func (s *spool) mode() string {
	if s.fileSize > 0 {
		return "file"
	}
	return "memory"
}

// release gives the spool's memory and disk back to the budgets and
// closes its file. A reader still running (a transport writing a body the
// app stopped reading) then fails; the memory stays valid until it is
// collected. It is idempotent, for the goroutine that filled the spool.
func (s *spool) release() {
	if s.released {
		return
	}
	s.released = true
	s.b.memory.release(s.memReserved)
	s.b.disk.release(s.fileSize)
	if s.file != nil {
		_ = s.file.Close()
		s.b.files.Add(-1)
		if s.fileName != "" {
			_ = os.Remove(s.fileName)
		}
	}
}
