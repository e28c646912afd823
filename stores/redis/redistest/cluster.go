//go:build unix

package redistest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterSlots is the number of hash slots in a Redis Cluster.
const clusterSlots = 16384

// Cluster is a Redis Cluster of masters without replicas, each a Server.
type Cluster struct {
	nodes []*Server
}

// StartCluster starts masters cluster-enabled servers (each on a free
// port, with its cluster bus on another free port), splits the 16384 slots
// evenly among them with CLUSTER ADDSLOTSRANGE, joins them with CLUSTER
// MEET and waits until every node reports cluster_state:ok. t.Cleanup
// shuts them down.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	return startCluster(t, masters, nil)
}

// startCluster is StartCluster, over TLS when tlsOpts is not nil.
func startCluster(t testing.TB, masters int, tlsOpts *TLS) *Cluster {
	t.Helper()
	if masters < 1 || masters > clusterSlots {
		t.Fatalf("redistest: StartCluster(%d): need between 1 and %d masters", masters, clusterSlots)
	}
	c := &Cluster{}
	bus := make([]int, masters)
	for i := range masters {
		c.nodes = append(c.nodes, start(t, "", tlsOpts, func(int) []string {
			bus[i] = FreePort(t)
			args := []string{
				"--cluster-enabled", "yes",
				"--cluster-config-file", "nodes.conf",
				"--cluster-port", strconv.Itoa(bus[i]),
				"--cluster-node-timeout", "5000",
			}
			if tlsOpts != nil { // the bus too, and the slots report the TLS port
				args = append(args, "--tls-cluster", "yes")
			}
			return args
		}))
	}

	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	for i, n := range c.nodes {
		lo := i * clusterSlots / masters
		hi := (i+1)*clusterSlots/masters - 1
		nodeDo(ctx, t, n, "cluster", "set-config-epoch", i+1)
		nodeDo(ctx, t, n, "cluster", "addslotsrange", lo, hi)
		if i > 0 {
			nodeDo(ctx, t, c.nodes[0], "cluster", "meet", "127.0.0.1", n.Port(), bus[i])
		}
	}
	for _, n := range c.nodes {
		waitClusterOK(ctx, t, n, masters)
	}
	return c
}

// nodeDo runs one command on n over a short-lived connection.
func nodeDo(ctx context.Context, t testing.TB, n *Server, args ...any) any {
	t.Helper()
	c := redis.NewClient(n.options())
	defer c.Close()
	v, err := c.Do(ctx, args...).Result()
	if err != nil {
		t.Fatalf("redistest: %s on %s: %v", fmt.Sprint(args...), n.Addr(), err)
	}
	return v
}

// waitClusterOK polls CLUSTER INFO on n until it reports cluster_state:ok
// and knows all masters, or ctx ends.
func waitClusterOK(ctx context.Context, t testing.TB, n *Server, masters int) {
	t.Helper()
	c := redis.NewClient(n.options())
	defer c.Close()
	want := []string{"cluster_state:ok", "cluster_known_nodes:" + strconv.Itoa(masters)}
	var info string
	for backoff := time.Millisecond; ; backoff = min(2*backoff, 50*time.Millisecond) {
		var err error
		info, err = c.ClusterInfo(ctx).Result()
		if err == nil && containsAll(info, want) {
			return
		}
		timer := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			timer.Stop()
			t.Fatalf("redistest: cluster node %s not ready within %v (last error %v); CLUSTER INFO:\n%s",
				n.Addr(), readyTimeout, err, info)
		case <-timer.C:
		}
	}
}

// containsAll reports whether every line in want is a line of info.
func containsAll(info string, want []string) bool {
	lines := strings.Split(strings.ReplaceAll(info, "\r", ""), "\n")
	for _, w := range want {
		found := false
		for _, l := range lines {
			if l == w {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Addrs returns the host:port of every node.
func (c *Cluster) Addrs() []string {
	addrs := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		addrs[i] = n.Addr()
	}
	return addrs
}

// Nodes returns the cluster's servers, for fault injection on one node.
func (c *Cluster) Nodes() []*Server { return c.nodes }

// Client returns a cluster client seeded with every node's address, with
// ContextTimeoutEnabled set (over TLS with TLS.Client for a cluster from
// StartClusterTLS). t.Cleanup closes it.
func (c *Cluster) Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:                 c.Addrs(),
		ContextTimeoutEnabled: true,
		TLSConfig:             c.nodes[0].clientTLS(),
	})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// KeySlot returns the hash slot of key, as the cluster computes it.
func (c *Cluster) KeySlot(t testing.TB, key string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	v, _ := nodeDo(ctx, t, c.nodes[0], "cluster", "keyslot", key).(int64)
	return int(v)
}

// SlotOwner returns the index (in Nodes) of the node that serves slot.
func (c *Cluster) SlotOwner(t testing.TB, slot int) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	cl := redis.NewClient(c.nodes[0].options())
	defer cl.Close()
	slots, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatalf("redistest: CLUSTER SLOTS: %v", err)
	}
	for _, s := range slots {
		if slot >= s.Start && slot <= s.End && len(s.Nodes) > 0 {
			for i, n := range c.nodes {
				if s.Nodes[0].Addr == n.Addr() {
					return i
				}
			}
		}
	}
	t.Fatalf("redistest: no node serves slot %d", slot)
	return -1
}

// MoveSlot reshards slot to the node at index to (in Nodes), the way
// redis-cli --cluster reshard does: IMPORTING and MIGRATING, MIGRATE of
// every key in it, then SETSLOT NODE on every node; it waits (at most
// 10s) until every node's CLUSTER SLOTS shows the move.
func (c *Cluster) MoveSlot(t testing.TB, slot, to int) {
	t.Helper()
	from := c.SlotOwner(t, slot)
	if from == to {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	src, dst := c.nodes[from], c.nodes[to]
	srcID, _ := nodeDo(ctx, t, src, "cluster", "myid").(string)
	dstID, _ := nodeDo(ctx, t, dst, "cluster", "myid").(string)
	nodeDo(ctx, t, dst, "cluster", "setslot", slot, "importing", srcID)
	nodeDo(ctx, t, src, "cluster", "setslot", slot, "migrating", dstID)
	for {
		keys, _ := nodeDo(ctx, t, src, "cluster", "getkeysinslot", slot, 100).([]any)
		if len(keys) == 0 {
			break
		}
		args := []any{"migrate", "127.0.0.1", dst.Port(), "", 0, 5000, "keys"}
		nodeDo(ctx, t, src, append(args, keys...)...)
	}
	for _, n := range c.nodes {
		nodeDo(ctx, t, n, "cluster", "setslot", slot, "node", dstID)
	}
	for _, n := range c.nodes {
		for backoff := time.Millisecond; c.ownerSeenBy(ctx, n, slot) != dst.Addr(); backoff = min(2*backoff, 50*time.Millisecond) {
			timer := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				timer.Stop()
				t.Fatalf("redistest: %s does not see slot %d on %s within %v", n.Addr(), slot, dst.Addr(), readyTimeout)
			case <-timer.C:
			}
		}
	}
}

// ownerSeenBy returns the address n's CLUSTER SLOTS gives for slot, or "".
func (c *Cluster) ownerSeenBy(ctx context.Context, n *Server, slot int) string {
	cl := redis.NewClient(n.options())
	defer cl.Close()
	slots, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		return ""
	}
	for _, s := range slots {
		if slot >= s.Start && slot <= s.End && len(s.Nodes) > 0 {
			return s.Nodes[0].Addr
		}
	}
	return ""
}
