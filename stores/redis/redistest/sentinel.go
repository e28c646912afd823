//go:build unix

package redistest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// masterName is the name the sentinel monitors its master under.
const masterName = "sidecar"

// Sentinel is one Redis master (with a replica, from
// StartSentinelReplicated) and one Sentinel process monitoring it.
type Sentinel struct {
	master   *Server
	replica  *Server // nil without one
	sentinel *Server
}

// failoverTimeout bounds Failover.
const failoverTimeout = 30 * time.Second

// StartSentinel starts a master (as Start does) and a Sentinel monitoring
// it under MasterName with a quorum of one, and waits until the sentinel
// answers SENTINEL GET-MASTER-ADDR-BY-NAME with the master's address.
// t.Cleanup shuts both down.
func StartSentinel(t testing.TB) *Sentinel {
	t.Helper()
	return startSentinel(t, nil, false)
}

// StartSentinelReplicated is StartSentinel with a replica of the master
// as well, which the sentinel knows of before it returns, so that
// Failover can promote it.
func StartSentinelReplicated(t testing.TB) *Sentinel {
	t.Helper()
	return startSentinel(t, nil, true)
}

// StartSentinelTLS is StartSentinel for a master and a Sentinel that speak
// only TLS, as o describes; the Sentinel reaches the master over TLS too
// (--tls-replication yes), presenting o's certificate.
func StartSentinelTLS(t testing.TB, o TLS) *Sentinel {
	t.Helper()
	checkTLS(t, o)
	return startSentinel(t, &o, false)
}

// startSentinel is StartSentinel, over TLS when tlsOpts is not nil, with
// a replica when replicated.
func startSentinel(t testing.TB, tlsOpts *TLS, replicated bool) *Sentinel {
	t.Helper()
	master := start(t, "", tlsOpts, func(int) []string { return nil })
	var replica *Server
	if replicated {
		replica = start(t, "", tlsOpts, func(int) []string {
			return []string{"--replicaof", "127.0.0.1", strconv.Itoa(master.Port())}
		})
	}
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
	s := &Sentinel{master: master, replica: replica, sentinel: sentinel}

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	c := redis.NewSentinelClient(sentinel.options())
	defer c.Close()
	var got []string
	var err error
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		got, err = c.GetMasterAddrByName(ctx, masterName).Result()
		if err == nil && len(got) == 2 && got[1] == strconv.Itoa(master.Port()) && s.replicaKnown(ctx, c) {
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

// replicaKnown reports whether the sentinel knows the replica as a
// healthy one (true without a replica).
func (s *Sentinel) replicaKnown(ctx context.Context, c *redis.SentinelClient) bool {
	if s.replica == nil {
		return true
	}
	reps, err := c.Replicas(ctx, masterName).Result()
	if err != nil {
		return false
	}
	for _, r := range reps {
		if r["port"] == strconv.Itoa(s.replica.Port()) && r["flags"] == "slave" && r["master-link-status"] == "ok" {
			return true
		}
	}
	return false
}

// Replica returns the replica (nil without one).
func (s *Sentinel) Replica() *Server { return s.replica }

// Failover has the sentinel promote the replica (SENTINEL FAILOVER) and
// waits, at most 30s, until the sentinel reports it as the master, it
// says it is one (ROLE) and the old master has become its replica. It
// first waits until the replica has all the master had written (a
// failover drops what replication has not carried yet). Master and
// Replica then return the new roles.
func (s *Sentinel) Failover(t testing.TB) {
	t.Helper()
	if s.replica == nil {
		t.Fatalf("redistest: Failover: the sentinel has no replica (use StartSentinelReplicated)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), failoverTimeout)
	defer cancel()
	offset := replOffset(ctx, s.master, "master_repl_offset")
	for backoff := time.Millisecond; replOffset(ctx, s.replica, "slave_repl_offset") < offset; backoff = min(2*backoff, 50*time.Millisecond) {
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			t.Fatalf("redistest: the replica %s did not catch up with offset %d within %v", s.replica.Addr(), offset, failoverTimeout)
		case <-timer.C:
		}
	}
	c := redis.NewSentinelClient(s.sentinel.options())
	defer c.Close()
	if err := c.Failover(ctx, masterName).Err(); err != nil {
		t.Fatalf("redistest: SENTINEL FAILOVER: %v", err)
	}
	want := strconv.Itoa(s.replica.Port())
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		got, err := c.GetMasterAddrByName(ctx, masterName).Result()
		if err == nil && len(got) == 2 && got[1] == want &&
			role(ctx, s.replica) == "master" && role(ctx, s.master) == "slave" {
			break
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			t.Fatalf("redistest: the failover to %s did not complete within %v (sentinel says %v, %v)",
				s.replica.Addr(), failoverTimeout, got, err)
		case <-timer.C:
		}
	}
	s.master, s.replica = s.replica, s.master
}

// role returns what ROLE says srv is ("master", "slave"), or "" when it
// does not answer.
func role(ctx context.Context, srv *Server) string {
	c := redis.NewClient(srv.options())
	defer c.Close()
	v, err := c.Do(ctx, "ROLE").Slice()
	if err != nil || len(v) == 0 {
		return ""
	}
	r, _ := v[0].(string)
	return r
}

// replOffset reads field (a replication offset) from srv's INFO
// replication; -1 when it cannot.
func replOffset(ctx context.Context, srv *Server, field string) int64 {
	c := redis.NewClient(srv.options())
	defer c.Close()
	info, err := c.Info(ctx, "replication").Result()
	if err != nil {
		return -1
	}
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}
