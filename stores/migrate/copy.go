package migrate

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Defaults for the zero values of Options' fields.
const (
	// DefaultWorkers is Options.Workers' default.
	DefaultWorkers = 8
	// DefaultTimeout is Options.Timeout's default.
	DefaultTimeout = 10 * time.Second
	// DefaultMaxFailures is Options.MaxFailures' default.
	DefaultMaxFailures = 100
	// DefaultProgressEvery is Options.ProgressEvery's default.
	DefaultProgressEvery = 1000
)

// ErrTooManyFailures: Copy stopped because Options.MaxFailures records
// failed (a target that is down, or full, fails them all).
var ErrTooManyFailures = errors.New("migrate: too many sessions failed to copy")

// Options configure Copy. The zero value is ready to use.
type Options struct {
	// DryRun reads the source and the target and counts what a copy
	// would do, writing nothing to either (and nothing to the Journal).
	DryRun bool
	// Journal, when not nil, lists the keys earlier runs left in the
	// target: Copy skips them (Stats.Journaled) and adds the keys it
	// copies or finds in the target. nil keeps no journal.
	Journal *Journal
	// Clock decides whether a record is still live when it is about to
	// be written, and after. nil means time.Now.
	Clock func() time.Time
	// Workers is how many records are written at once. 0 (or negative)
	// means DefaultWorkers (8).
	Workers int
	// Timeout bounds each record's reads and writes of the target. 0 (or
	// negative) means DefaultTimeout (10s).
	Timeout time.Duration
	// MaxFailures is how many failed records stop the copy with
	// ErrTooManyFailures. 0 means DefaultMaxFailures (100); negative
	// means no limit.
	MaxFailures int
	// Progress, when set, is called with the totals so far after every
	// ProgressEvery records the source passed, on the goroutine reading
	// the source.
	Progress func(Stats)
	// ProgressEvery is how often Progress is called. 0 (or negative)
	// means DefaultProgressEvery (1000).
	ProgressEvery int
	// OnFailure, when set, is called with each record that failed: its
	// store key, its handle ("" when unknown) and why. Calls come from
	// the writing goroutines, one at a time.
	OnFailure func(key, handle string, err error)
}

// withDefaults returns o with every zero field given its default.
func (o Options) withDefaults() Options {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxFailures == 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = DefaultProgressEvery
	}
	return o
}

// Stats counts what Copy did with the records the source passed. Read is
// the sum of the other five, unless the copy stopped early (records read
// but not yet handled then are in Read only).
type Stats struct {
	// Read is the number of records the source passed.
	Read int64
	// Copied were written to the target (with DryRun: would be).
	Copied int64
	// Existing were not written: the target held the key already.
	Existing int64
	// Expired were not copied: they expired before they were written
	// (or while they were: see the package comment).
	Expired int64
	// Journaled were not looked at: the Journal lists them.
	Journaled int64
	// Failed could not be read from the source or written to the target.
	Failed int64
}

// String is the one-line summary `sidecar store migrate` prints.
func (s Stats) String() string {
	return fmt.Sprintf("%d read: %d copied, %d already in the target, %d expired, %d in the journal, %d failed",
		s.Read, s.Copied, s.Existing, s.Expired, s.Journaled, s.Failed)
}

// counters are the running Stats.
type counters struct {
	read, copied, existing, expired, journaled, failed atomic.Int64
}

func (c *counters) stats() Stats {
	return Stats{
		Read: c.read.Load(), Copied: c.copied.Load(), Existing: c.existing.Load(),
		Expired: c.expired.Load(), Journaled: c.journaled.Load(), Failed: c.failed.Load(),
	}
}

// Copy copies every live session src passes into dst, Options.Workers at
// a time, and returns what it did. It stops early, returning the counts
// so far, when ctx is done, when the source fails, when the journal
// cannot be written, and with ErrTooManyFailures. Records that fail are
// counted (Stats.Failed) and reported to Options.OnFailure; Copy goes on
// with the rest. See the package comment for what a copy preserves.
func Copy(ctx context.Context, src sessions.Lister, dst sessions.Store, opts Options) (Stats, error) {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &copier{dst: dst, opts: opts, cancel: cancel}
	work := make(chan listed)
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Go(func() { // exits once work is closed and drained
			for it := range work {
				c.one(ctx, it)
			}
		})
	}
	err := src.Each(ctx, func(key string, rec *sessions.Record, err error) error {
		if n := c.n.read.Add(1); opts.Progress != nil && n%int64(opts.ProgressEvery) == 0 {
			opts.Progress(c.n.stats())
		}
		select {
		case work <- listed{key: key, rec: rec, err: err}:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(work)
	wg.Wait()
	stats := c.n.stats()
	if stopped := c.stopped(); stopped != nil {
		return stats, stopped
	}
	if err != nil {
		return stats, fmt.Errorf("migrate: reading the source: %w", err)
	}
	return stats, nil
}

// listed is one record the source passed, or why it could not.
type listed struct {
	key string
	rec *sessions.Record
	err error
}

// copier is one Copy's state.
type copier struct {
	dst    sessions.Store
	opts   Options
	n      counters
	cancel context.CancelFunc

	mu      sync.Mutex // serialises OnFailure; guards stopErr
	stopErr error      // why the copy stopped early
}

// stop ends the copy with err (the first call wins).
func (c *copier) stop(err error) {
	c.mu.Lock()
	if c.stopErr == nil {
		c.stopErr = err
	}
	c.mu.Unlock()
	c.cancel()
}

func (c *copier) stopped() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopErr
}

// outcome is what became of one record.
type outcome int

const (
	copied outcome = iota
	existing
	expired
)

// one handles one record the source passed.
func (c *copier) one(ctx context.Context, it listed) {
	switch {
	case it.err != nil:
		c.fail(it, fmt.Errorf("reading the source: %w", it.err))
		return
	case c.opts.Journal != nil && c.opts.Journal.Has(it.key):
		c.n.journaled.Add(1)
		return
	case !it.rec.Live(c.opts.Clock()):
		c.n.expired.Add(1)
		return
	}
	out, err := c.write(ctx, it)
	if err != nil {
		if ctx.Err() == nil { // not a casualty of the copy stopping
			c.fail(it, err)
		}
		return
	}
	switch out {
	case copied:
		c.n.copied.Add(1)
	case existing:
		c.n.existing.Add(1)
	case expired:
		c.n.expired.Add(1)
		return
	}
	if c.opts.Journal != nil && !c.opts.DryRun {
		if err := c.opts.Journal.Add(it.key); err != nil {
			c.stop(err)
		}
	}
}

// write copies it into the target unless the target holds its key: a
// live record, or a tombstone (a login on the target regenerated the
// copy away, and the old key must stay dead). With DryRun it only looks.
func (c *copier) write(ctx context.Context, it listed) (outcome, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	_, err := c.dst.Load(ctx, it.key, nil)
	switch {
	case err == nil, errors.Is(err, sessions.ErrReplaced):
		return existing, nil
	case !errors.Is(err, sessions.ErrNotFound):
		return 0, fmt.Errorf("reading the target: %w", err)
	case c.opts.DryRun:
		return copied, nil
	}
	err = c.dst.Create(ctx, it.key, it.rec)
	switch {
	case errors.Is(err, sessions.ErrExists):
		return existing, nil
	case err != nil:
		return 0, fmt.Errorf("writing the target: %w", err)
	case !it.rec.Live(c.opts.Clock()):
		return expired, nil // written, but already past its expiry: absent
	}
	return copied, nil
}

// fail counts a failed record, reports it, and stops the copy once
// MaxFailures have failed.
func (c *copier) fail(it listed, err error) {
	n := c.n.failed.Add(1)
	if c.opts.OnFailure != nil {
		handle := ""
		if it.rec != nil {
			handle = it.rec.Handle
		}
		c.mu.Lock()
		c.opts.OnFailure(it.key, handle, err)
		c.mu.Unlock()
	}
	if c.opts.MaxFailures > 0 && n >= int64(c.opts.MaxFailures) {
		c.stop(fmt.Errorf("%w (%d)", ErrTooManyFailures, n))
	}
}
