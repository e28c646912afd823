package httpauth

import (
	"container/list"
	"net/netip"
	"time"
)

// clientKey is the address a failure counts against: an IPv4 address, or
// the /64 an IPv6 address belongs to (one host usually holds a whole /64,
// so counting single IPv6 addresses would bound nothing). The zero Prefix
// stands for every peer whose address cannot be parsed.
func clientKey(remoteAddr string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Prefix{}
	}
	a := ap.Addr().Unmap().WithZone("")
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits) // bits fits the address family
	return p
}

// client is what the Guard remembers about one address.
type client struct {
	key         netip.Prefix
	start       time.Time // of the failure window
	failures    int       // in the window
	lockedUntil time.Time // refused with 429 until then
}

// clientTable is a fixed-capacity table of clients: when it is full, the
// client that failed least recently is forgotten. Not safe for concurrent
// use; the Guard locks it.
type clientTable struct {
	max   int
	order *list.List // of *client, most recent failure first
	byKey map[netip.Prefix]*list.Element
}

func newClientTable(max int) *clientTable {
	return &clientTable{max: max, order: list.New(), byKey: make(map[netip.Prefix]*list.Element)}
}

// get returns the client at key, or nil.
func (t *clientTable) get(key netip.Prefix) *client {
	if e, ok := t.byKey[key]; ok {
		return e.Value.(*client)
	}
	return nil
}

// touch returns the client at key, created when missing, and marks it
// the most recently failed, forgetting the least recent one past capacity.
func (t *clientTable) touch(key netip.Prefix) *client {
	if e, ok := t.byKey[key]; ok {
		t.order.MoveToFront(e)
		return e.Value.(*client)
	}
	if t.order.Len() >= t.max {
		oldest := t.order.Back()
		t.order.Remove(oldest)
		delete(t.byKey, oldest.Value.(*client).key)
	}
	c := &client{key: key}
	t.byKey[key] = t.order.PushFront(c)
	return c
}

// len is how many clients the table holds.
func (t *clientTable) len() int { return t.order.Len() }
