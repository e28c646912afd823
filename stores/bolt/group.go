package bolt

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.etcd.io/bbolt"
)

// maxGroup bounds the writes one group commit carries. A commit of that
// many already shares its fsync 128 ways; past it, a commit's own work
// (encoding, page writes, and the rerun of the whole group when one
// member fails) would grow while saving almost nothing more, and every
// member waits for all of it. Writers past it form the next group at
// once.
const maxGroup = 128

// group is the group commit of the store's writes: every write of a
// session (Create, Apply, Regenerate, Delete, a due touch in Load) goes
// through Store.update, and writes that arrive while a commit is under
// way are committed together by the next one, in one bbolt transaction
// with one fsync.
//
// The first writer to find no commit under way leads: it commits what is
// queued (its own write first, since the queue was empty), then hands
// the lead to the oldest writer still queued, or, if none is, lets the
// next writer lead. Nobody waits for company: a lone write commits at
// once, as a plain db.Update would, and under load a group is whoever
// arrived during the previous commit. (bbolt's DB.Batch instead holds
// every batch for MaxBatchDelay, 10 ms by default, which at low load is
// added to each write.)
//
// Every writer returns only after the commit that carries its write has
// returned, fsync included (Options.NoSync aside), so a write that
// returned is on disk; a bbolt commit is atomic (the meta page switch), so
// a crash keeps a group whole or loses it whole, and no writer of a lost
// group has returned.
type group struct {
	mu      sync.Mutex
	queue   []*write
	leading bool // a writer is committing; the queue waits for it
	// commits counts the transactions the group committed (tests read
	// it: each is one fsync unless NoSync).
	commits atomic.Int64
}

// write is one writer's place in the queue.
type write struct {
	fn   func(*bbolt.Tx) error
	err  error      // fn's result in the last run
	done chan error // errLead, errSolo or the result; buffered, 1
}

var (
	// errLead tells a queued writer to lead the next group commit.
	errLead = errors.New("bolt: lead the group commit")
	// errSolo tells a writer that its write failed after it had written
	// something, so the group was rolled back without it: it runs its
	// write alone, to get its own error (or success) undisturbed.
	errSolo = errors.New("bolt: run the write alone")
)

// refusal marks the error of a write function that failed before it
// changed anything: a contract outcome (ErrNotFound, ErrConflict...), a
// deadline, a corrupt record, errRollback. The group commits the other
// writes with it and hands the caller err; any other error from a write
// function means it may have changed something, and rolls the group back.
type refusal struct{ err error }

func (r refusal) Error() string { return r.err.Error() }
func (r refusal) Unwrap() error { return r.err }

// refuse marks err as a refusal; nil stays nil.
func refuse(err error) error {
	if err == nil {
		return nil
	}
	return refusal{err}
}

// unrefuse takes the refusal mark off err.
func unrefuse(err error) error {
	var r refusal
	if errors.As(err, &r) {
		return r.err
	}
	return err
}

// update runs fn in a write transaction that commits it, with whatever
// other writes the group carries, and returns fn's error (a refusal's
// cause) or the commit's. fn must be safe to run more than once (a group
// is rerun when one of its members fails): it must set its results
// afresh on each run and change nothing outside tx, and mark with refuse
// every error it returns before its first change to tx.
func (s *Store) update(fn func(*bbolt.Tx) error) error {
	w := &write{fn: fn, done: make(chan error, 1)}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, w)
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	var err error
	if !lead {
		err = <-w.done
	}
	if lead || err == errLead {
		s.lead()       // w is in the group it commits
		err = <-w.done // put there by commitGroup
	}
	if err == errSolo {
		return unrefuse(s.db.Update(fn))
	}
	return err
}

// lead commits the writes at the head of the queue (the leader's among
// them) and passes the lead on.
func (s *Store) lead() {
	g := &s.group
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	batch := make([]*write, n)
	copy(batch, g.queue)
	g.queue = append(g.queue[:0], g.queue[n:]...)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if len(g.queue) > 0 {
			g.queue[0].done <- errLead
		} else {
			g.leading = false
		}
	}()
	s.commitGroup(batch)
}

// commitGroup commits batch in one transaction and gives each writer its
// result. A member that fails after changing something is taken out and
// told to run alone (errSolo), and the rest is run again from scratch.
func (s *Store) commitGroup(batch []*write) {
	for len(batch) > 0 {
		failed := -1
		err := s.db.Update(func(tx *bbolt.Tx) error {
			wrote := false
			for i, w := range batch {
				w.err = safeRun(w.fn, tx)
				var r refusal
				switch {
				case w.err == nil:
					wrote = true
				case errors.As(w.err, &r):
					w.err = r.err // it changed nothing: the others go on
				default:
					failed = i
					return w.err
				}
			}
			if !wrote {
				return errRollback // every member refused: no empty commit
			}
			return nil
		})
		if failed >= 0 {
			batch[failed].done <- errSolo
			batch = append(batch[:failed], batch[failed+1:]...)
			continue
		}
		switch {
		case errors.Is(err, errRollback):
		case err != nil: // the commit failed: nobody's write is in
			for _, w := range batch {
				w.err = err
			}
		default:
			s.group.commits.Add(1)
		}
		for _, w := range batch {
			w.done <- w.err
		}
		return
	}
}

// safeRun runs fn, turning a panic into an error: the panicking writer
// then runs alone (errSolo), where the panic reaches its own goroutine.
func safeRun(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("bolt: write panicked: %v", p)
		}
	}()
	return fn(tx)
}
