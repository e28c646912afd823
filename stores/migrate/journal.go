package migrate

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
)

// journalFlushEvery is how many added keys the journal buffers before it
// writes them to its file.
const journalFlushEvery = 256

// Journal is the list of the keys that earlier runs of a migration left
// in the target (copied there, or found there already), kept in a file
// from one run to the next so that a later run never writes them again:
// the target owns them now, and a session the target has since deleted
// (logged out, revoked, regenerated away) must not come back from a
// source that still holds it.
//
// The file holds one key a line, as a Go quoted string (so any key fits
// on a line), mode 0600. Store keys are SHA-256 digests of cookie tokens,
// not the tokens: the file cannot be turned back into cookies. A Journal
// is safe for concurrent use.
type Journal struct {
	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	keys    map[string]struct{}
	pending int   // keys added since the last flush
	err     error // the first write error; later Adds return it
}

// OpenJournal opens the journal file at path, creating it if it does not
// exist, and reads the keys it lists. A last line cut short (a run that
// died while writing it) is dropped from the file; any other line that is
// not a quoted string is an error naming it.
func OpenJournal(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("migrate: journal: %w", err)
	}
	j := &Journal{f: f, keys: make(map[string]struct{})}
	if err := j.read(path); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	j.w = bufio.NewWriter(f)
	return j, nil
}

// read loads the keys of j's file and leaves its offset at its end, after
// cutting off a last line without a newline.
func (j *Journal) read(path string) error {
	data, err := io.ReadAll(j.f)
	if err != nil {
		return fmt.Errorf("migrate: journal %s: %w", path, err)
	}
	end := bytes.LastIndexByte(data, '\n') + 1
	if end < len(data) {
		if err := j.f.Truncate(int64(end)); err != nil {
			return fmt.Errorf("migrate: journal %s: dropping a cut-off last line: %w", path, err)
		}
	}
	if _, err := j.f.Seek(int64(end), io.SeekStart); err != nil {
		return fmt.Errorf("migrate: journal %s: %w", path, err)
	}
	for n, line := range bytes.Split(data[:end], []byte{'\n'}) {
		if len(line) == 0 {
			continue
		}
		key, err := strconv.Unquote(string(line))
		if err != nil {
			return fmt.Errorf("migrate: journal %s: line %d is not a quoted key (is this a journal file?)", path, n+1)
		}
		j.keys[key] = struct{}{}
	}
	return nil
}

// Len is the number of keys the journal lists.
func (j *Journal) Len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.keys)
}

// Has reports whether the journal lists key.
func (j *Journal) Has(key string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, ok := j.keys[key]
	return ok
}

// Add lists key, writing it to the file with the ones added before it
// every journalFlushEvery keys (and at Close). It returns the first error
// writing the file met, now or before.
func (j *Journal) Add(key string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	if _, ok := j.keys[key]; ok {
		return nil
	}
	j.keys[key] = struct{}{}
	if _, err := j.w.WriteString(strconv.Quote(key) + "\n"); err != nil {
		j.err = fmt.Errorf("migrate: journal: %w", err)
		return j.err
	}
	if j.pending++; j.pending >= journalFlushEvery {
		j.pending = 0
		if err := j.w.Flush(); err != nil {
			j.err = fmt.Errorf("migrate: journal: %w", err)
		}
	}
	return j.err
}

// Close writes the keys not yet written, syncs the file to disk and
// closes it. A run that dies before Close loses at most the last
// journalFlushEvery keys from the file; the next run finds those in the
// target (counted as existing) and lists them again.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.err
	if err == nil {
		if werr := errors.Join(j.w.Flush(), j.f.Sync()); werr != nil {
			err = fmt.Errorf("migrate: journal: %w", werr)
		}
	}
	if cerr := j.f.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("migrate: journal: %w", cerr)
	}
	return err
}
