package proxy

import (
	"net/url"
	"sync/atomic"
)

// Upstream is one app server.
type Upstream struct {
	// Name identifies the upstream in logs.
	Name string
	// URL is where requests go; its path is prefixed to the request's.
	URL *url.URL
}

// roundRobin picks upstreams in turn. It is safe for concurrent use.
type roundRobin struct {
	ups  []Upstream
	next atomic.Uint64
}

func (rr *roundRobin) pick() *Upstream {
	n := rr.next.Add(1) - 1
	return &rr.ups[n%uint64(len(rr.ups))]
}
