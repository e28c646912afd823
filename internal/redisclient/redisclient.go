// Package redisclient builds the go-redis clients Sidecar talks to Redis
// with (the session store's, the Redlock masters') and explains why a
// first command failed.
//
// Every client applies the caller's context deadline to socket I/O
// (go-redis's ContextTimeoutEnabled) and to the TLS handshake
// (tlsclient.DialContext), so a stalled Redis costs a request its own
// budget, not the client's read or dial timeout.
//
// It knows no configuration: cmd/sidecar/app fills Options from
// store.redis.* and locks.redlock_*.
package redisclient

import (
	"crypto/tls"

	goredis "github.com/redis/go-redis/v9"

	"github.com/sidecarproxy/sidecar/internal/tlsclient"
)

// Options describe one Redis deployment. The zero value is a standalone
// Redis at 127.0.0.1:6379, database 0, without password or TLS, with
// go-redis's default pool.
type Options struct {
	// Addrs are host:port addresses: one is a standalone Redis, several a
	// Cluster's seed nodes, or, with MasterName, the Sentinels.
	Addrs []string
	// MasterName is the Sentinel master's name; "" means no Sentinel.
	MasterName string
	// Username and Password authenticate (ACL user, or the password
	// alone); "" sends none.
	Username, Password string
	// DB is the database number (a Cluster has only 0).
	DB int
	// PoolSize bounds the connections per node; 0 means go-redis's
	// default (10 per CPU).
	PoolSize int
	// TLS, when not nil, is the client configuration of every connection
	// (with Sentinel, to the Sentinels and the master alike); nil speaks
	// plain text.
	TLS *tls.Config
}

// New returns a client for o: standalone for one address, Cluster for
// several, Sentinel when MasterName is set. It dials nothing yet.
func New(o Options) goredis.UniversalClient {
	u := &goredis.UniversalOptions{
		Addrs:                 o.Addrs,
		MasterName:            o.MasterName,
		Username:              o.Username,
		Password:              o.Password,
		DB:                    o.DB,
		PoolSize:              o.PoolSize,
		ContextTimeoutEnabled: true,
	}
	if o.TLS != nil {
		u.TLSConfig, u.Dialer = o.TLS, tlsclient.DialContext(o.TLS)
	}
	return goredis.NewUniversalClient(u)
}

// Diagnose explains err, the failure of a client's first command, for
// the operator. fault is true when the TLS set-up is wrong
// (tlsclient.IsSetupFault): waiting does not cure it. Otherwise hint,
// when not "", says what the addresses may have meant: a plain-text
// client whose connection a TLS Redis closed, or a TLS client that a
// plain-text Redis never answered.
func Diagnose(err error, useTLS bool) (fault bool, hint string) {
	switch {
	case useTLS && tlsclient.IsSetupFault(err):
		return true, ""
	case !useTLS && tlsclient.IsPlainToTLS(err):
		return false, "if this Redis requires TLS, write its addresses as rediss://host:port"
	case useTLS && tlsclient.IsUnanswered(err):
		return false, "if this Redis does not speak TLS, write its addresses as host:port"
	}
	return false, ""
}
