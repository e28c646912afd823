//go:build unix

package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// masterName is the name the sentinel monitors its master under.
const masterName = "sidecar"

// Sentinel is one Redis master and one Sentinel process monitoring it.
type Sentinel struct {
	master   *Server
	sentinel *Server
}

// StartSentinel starts a master (as Start does) and a Sentinel monitoring
// it under MasterName with a quorum of one, and waits until the sentinel
// answers SENTINEL GET-MASTER-ADDR-BY-NAME with the master's address.
// t.Cleanup shuts both down.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	return startSentinel(t, nil)
}

// StartSentinelTLS is StartSentinel for a master and a Sentinel that speak
// only TLS, as o describes; the Sentinel reaches the master over TLS too
// (--tls-replication yes), presenting o's certificate.
func StartSentinelTLS(t testing.TB, o TLS) *Sentinel {
	t.Helper()
	checkTLS(t, o)
	return startSentinel(t, &o)
}

// startSentinel is StartSentinel, over TLS when tlsOpts is not nil.
func startSentinel(t testing.TB, tlsOpts *TLS) *Sentinel {
	t.Helper()
	master := start(t, "", tlsOpts, func(int) []string { return nil })
	// Sentinel insists on a config file it can rewrite.
	conf := filepath.Join(t.TempDir(), "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\n"+
		"sentinel down-after-milliseconds %s 5000\n", masterName, master.Port(), masterName)
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatalf("redistest: writing sentinel config: %v", err)
	}
	sentinel := start(t, conf, tlsOpts, func(int) []string {
		args := []string{"--sentinel"}
		if tlsOpts != nil { // to the master as well, as a client with the server's certificate
			args = append(args, "--tls-replication", "yes")
		}
		return args
	})
	s := &Sentinel{master: master, sentinel: sentinel}

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	c := redis.NewSentinelClient(sentinel.options())
	defer c.Close()
	var got []string
	var err error
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		got, err = c.GetMasterAddrByName(ctx, masterName).Result()
		if err == nil && len(got) == 2 && got[1] == strconv.Itoa(master.Port()) {
			return s
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			t.Fatalf("redistest: sentinel %s does not report master %s within %v: got %v, %v",
				sentinel.Addr(), master.Addr(), readyTimeout, got, err)
		case <-timer.C:
		}
	}
}

// MasterName returns the name the sentinel monitors the master under.
func (s *Sentinel) MasterName() string { return masterName }

// SentinelAddrs returns the host:port of the sentinel.
func (s *Sentinel) SentinelAddrs() []string { return []string{s.sentinel.Addr()} }

// Master returns the monitored master, for fault injection.
func (s *Sentinel) Master() *Server { return s.master }

// SentinelServer returns the sentinel process itself.
func (s *Sentinel) SentinelServer() *Server { return s.sentinel }

// Client returns a failover client that finds the master through the
// sentinel, with ContextTimeoutEnabled set (over TLS, to both, for a
// Sentinel from StartSentinelTLS). t.Cleanup closes it.
func (s *Sentinel) Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	c := redis.NewFailoverClient(&redis.FailoverOptions{
		MasterName:            masterName,
		SentinelAddrs:         s.SentinelAddrs(),
		ContextTimeoutEnabled: true,
		TLSConfig:             s.master.clientTLS(),
	})
	t.Cleanup(func() { _ = c.Close() })
	return c
}
