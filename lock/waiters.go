package lock

import "sync"

// waiters is the registry of Acquire calls waiting for a key's release.
// Release notifications (Redis pub/sub messages, in-process releases) wake
// the waiters of their key; a (re)confirmed subscription wakes them all,
// since releases may have gone unheard while it was down. It is safe for
// concurrent use.
type waiters struct {
	mu sync.Mutex
	m  map[string]map[*waiter]struct{}
}

// waiter is one waiting Acquire call. ch holds at most one wakeup, so a
// notifier never blocks and wakeups that arrive together coalesce.
type waiter struct {
	key string
	ch  chan struct{}
}

// add registers a waiter for key.
func (r *waiters) add(key string) *waiter {
	w := &waiter{key: key, ch: make(chan struct{}, 1)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[string]map[*waiter]struct{})
	}
	set := r.m[key]
	if set == nil {
		set = make(map[*waiter]struct{})
		r.m[key] = set
	}
	set[w] = struct{}{}
	return w
}

// remove unregisters w.
func (r *waiters) remove(w *waiter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	set := r.m[w.key]
	delete(set, w)
	if len(set) == 0 {
		delete(r.m, w.key)
	}
}

// wake wakes every waiter for key.
func (r *waiters) wake(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for w := range r.m[key] {
		w.poke()
	}
}

// wakeAll wakes every waiter.
func (r *waiters) wakeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, set := range r.m {
		for w := range set {
			w.poke()
		}
	}
}

// poke leaves a wakeup for w unless one is pending.
func (w *waiter) poke() {
	select {
	case w.ch <- struct{}{}:
	default:
	}
}
