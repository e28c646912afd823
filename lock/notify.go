package lock

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

const (
	// healthInterval is how long a subscription may stay silent before it
	// is pinged; a second silent interval drops and redials it.
	healthInterval = 15 * time.Second
	// resubscribeMin and resubscribeMax bound the jittered backoff
	// between attempts to (re)establish a subscription.
	resubscribeMin = 50 * time.Millisecond
	resubscribeMax = 5 * time.Second
)

// notifier receives one Redis server's release notifications: a single
// SUBSCRIBE connection to the Locker's release channel, whose messages
// (the released keys) wake that key's waiters. It starts at the first
// wait (or Listen), keeps one goroutine that re-subscribes with backoff
// whenever the connection fails, and stops at close: that goroutine's
// exit. While it is not subscribed waiters poll.
type notifier struct {
	client  Client
	channel string
	wait    *waiters

	mu      sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	done    chan struct{} // closed when run returns
	ps      *redis.PubSub // the current subscription, for close
	live    bool
	liveCh  chan struct{} // closed while live
}

// newNotifier returns a notifier, not yet started, that wakes the waiters
// in w.
func newNotifier(c Client, channel string, w *waiters) *notifier {
	return &notifier{client: c, channel: channel, wait: w, liveCh: make(chan struct{})}
}

// start starts the notifier unless it has started; it reports false if it
// is closed.
func (n *notifier) start() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	if !n.started {
		n.started = true
		ctx, cancel := context.WithCancel(context.Background())
		n.cancel = cancel
		n.done = make(chan struct{})
		go n.run(ctx)
	}
	return true
}

// listen starts the notifier and waits until it is subscribed or ctx
// ends.
func (n *notifier) listen(ctx context.Context) error {
	if !n.start() {
		return errors.New("locker closed")
	}
	n.mu.Lock()
	live := n.liveCh
	n.mu.Unlock()
	select {
	case <-live:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close stops the notifier and waits for its goroutine to exit.
func (n *notifier) close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	started, cancel, ps, done := n.started, n.cancel, n.ps, n.done
	n.mu.Unlock()
	if !started {
		return
	}
	cancel()
	if ps != nil {
		_ = ps.Close() // unblocks a pending read
	}
	<-done
}

// run subscribes, serves the subscription until it fails, and starts over
// after a jittered backoff, until ctx (close) ends it.
func (n *notifier) run(ctx context.Context) {
	defer close(n.done)
	backoff := resubscribeMin
	for ctx.Err() == nil {
		ps := n.client.Subscribe(ctx, n.channel)
		if !n.setSub(ps) {
			_ = ps.Close()
			return
		}
		if n.serve(ctx, ps) {
			backoff = resubscribeMin
		}
		n.setSub(nil)
		_ = ps.Close()
		n.setLive(false)
		timer := time.NewTimer(jitter(backoff))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, resubscribeMax)
	}
}

// setSub records the current subscription; it reports false (recording
// nothing) once the notifier is closed.
func (n *notifier) setSub(ps *redis.PubSub) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed && ps != nil {
		return false
	}
	n.ps = ps
	return true
}

// setLive records whether the subscription is confirmed.
func (n *notifier) setLive(live bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if live == n.live {
		return
	}
	n.live = live
	if live {
		close(n.liveCh)
	} else {
		n.liveCh = make(chan struct{})
	}
}

// serve reads ps until it fails or ctx ends, waking waiters: those of the
// key named by each message, and all of them when the subscription is
// confirmed (releases before it went unheard). It reports whether the
// subscription was confirmed.
func (n *notifier) serve(ctx context.Context, ps *redis.PubSub) bool {
	confirmed, pinged := false, false
	for {
		msg, err := ps.ReceiveTimeout(ctx, healthInterval)
		if ctx.Err() != nil {
			return confirmed
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && !pinged && ps.Ping(ctx) == nil {
				pinged = true
				continue
			}
			return confirmed
		}
		pinged = false
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && m.Channel == n.channel {
				confirmed = true
				n.setLive(true)
				n.wait.wakeAll()
			}
		case *redis.Message:
			n.wait.wake(m.Payload)
		}
	}
}
