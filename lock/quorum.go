package lock

import (
	"context"
	"errors"
	"fmt"
)

// state is where one server's reply stands.
type state int

const (
	pending state = iota // not (yet) answered, or not asked
	yes                  // taken, extended, released, raised
	no                   // held by another, or not held by the token
	failed               // the call failed
)

// reply is one server's answer to a script.
type reply struct {
	state state
	n     int64 // the script's number: a fence, or the holder's remaining ms
	err   error
}

// tally counts replies by state.
type tally struct{ yes, no, failed, pending int }

// indexed is a server's reply with the server's index.
type indexed struct {
	i int
	r reply
}

// gathered is the outcome of gather: the replies awaited, indexed by
// server (the rest pending), their tally, and the replies not awaited,
// delivered on rest as their calls end.
type gathered struct {
	replies []reply
	tally
	rest <-chan indexed
}

// gather runs f on the servers at indexes idx at once and collects their
// replies until settled says the tally so far decides the outcome, all
// have answered, or ctx ends. Each call is bounded by ServerTimeout, and
// not by ctx's cancellation: a call the outcome did not wait for runs to
// its end in the background, rather than being cut off (which would cost
// its connection), and its reply goes to rest; its goroutine then exits,
// rest being buffered. With a single server the call runs inline, under
// ctx.
func (b *redisBackend) gather(ctx context.Context, idx []int, f func(context.Context, Client) reply, settled func(tally) bool) gathered {
	g := gathered{replies: make([]reply, len(b.servers)), tally: tally{pending: len(idx)}}
	call := func(parent context.Context, c Client) reply {
		sctx, cancel := context.WithTimeout(parent, b.opts.ServerTimeout)
		defer cancel()
		r := f(sctx, c)
		if r.state == failed && sctx.Err() != nil && ctx.Err() == nil {
			// Not the caller's deadline: say so, without wrapping
			// context.DeadlineExceeded for errors.Is to find.
			r.err = fmt.Errorf("no answer within the server timeout (%v): %v", b.opts.ServerTimeout, r.err)
		}
		return r
	}
	if len(b.servers) == 1 && len(idx) == 1 {
		g.replies[0] = call(ctx, b.servers[0].client)
		g.count(g.replies[0])
		return g
	}
	ch := make(chan indexed, len(idx))
	g.rest = ch
	detached := context.WithoutCancel(ctx)
	for _, i := range idx {
		go func() { ch <- indexed{i, call(detached, b.servers[i].client)} }()
	}
	for g.pending > 0 && !settled(g.tally) {
		select {
		case got := <-ch:
			g.replies[got.i] = got.r
			g.count(got.r)
		case <-ctx.Done():
			return g
		}
	}
	return g
}

// count adds r, a reply that was pending, to the tally.
func (t *tally) count(r reply) {
	t.pending--
	switch r.state {
	case yes:
		t.yes++
	case no:
		t.no++
	default:
		t.failed++
	}
}

// all returns the indexes of every server.
func (b *redisBackend) all() []int {
	idx := make([]int, len(b.servers))
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// decided reports whether a tally settles the outcome: a quorum said yes,
// or so many said no, or failed, that no quorum can say yes. A mix of
// noes and failures waits for every reply, so that the outcome names the
// right cause.
func (b *redisBackend) decided(t tally) bool {
	spare := len(b.servers) - b.quorum
	return t.yes >= b.quorum || t.no > spare || t.failed > spare
}

// outcome is the error of a call that fell short of a quorum: ErrNotHeld
// (or, for acquire, contention: nil) when too many servers answered no for
// a quorum to agree, ErrUnavailable when too many failed.
func (b *redisBackend) outcome(t tally, replies []reply) error {
	if t.failed > len(b.servers)-b.quorum || t.no <= len(b.servers)-b.quorum {
		return b.quorumError(t, replies)
	}
	return ErrNotHeld
}

// quorumError says how far a call fell short of a quorum, and why.
func (b *redisBackend) quorumError(t tally, replies []reply) error {
	var errs []error
	for i, r := range replies {
		switch {
		case r.state == failed && len(replies) == 1:
			errs = append(errs, r.err)
		case r.state == failed:
			errs = append(errs, fmt.Errorf("server %d: %w", i, r.err))
		}
	}
	return fmt.Errorf("%w: quorum of %d of %d not reached (%d agreed, %d refused, %d failed, %d did not answer in time): %w",
		ErrUnavailable, b.quorum, len(replies), t.yes, t.no, t.failed, t.pending, errors.Join(errs...))
}
