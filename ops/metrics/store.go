package metrics

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Store buckets, in seconds: a local bolt read to a store.timeout of
// several seconds.
var storeBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// The op label values, one per sessions.Store method.
const (
	opLoad = iota
	opCreate
	opApply
	opRegenerate
	opDelete
	opByPrincipal
	storeOps
)

var opNames = [storeOps]string{"load", "create", "apply", "regenerate", "delete", "by_principal"}

func (m *Metrics) registerStore() {
	m.storeOps = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "sidecar_store_operation_duration_seconds",
		Help:    "Time of each session store operation, failed ones included, by operation.",
		Buckets: storeBuckets,
	}, []string{"op"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "sidecar_store_errors_total",
		Help: "Session store operations that failed for want of the store (unreachable, too slow, broken), by operation; answers such as not found or conflict are not errors.",
	}, []string{"op"})
	m.reg.MustRegister(m.storeOps, m.storeErrors)
}

// Store returns next timed: every call is observed in
// sidecar_store_operation_duration_seconds, and each that fails for want
// of the store counts in sidecar_store_errors_total. The answers of the
// Store contract (sessions.ErrNotFound, ErrExists, ErrTooLarge,
// ErrConflict, ErrReplaced) and a caller's cancellation are not errors.
// The result passes every call and its result through unchanged; Unwrap
// returns next, for a caller that looks for an optional interface of the
// store itself.
func (m *Metrics) Store(next sessions.Store) *InstrumentedStore {
	s := &InstrumentedStore{Store: next}
	for i, name := range opNames {
		s.ops[i] = op{m.storeOps.WithLabelValues(name), m.storeErrors.WithLabelValues(name)}
	}
	return s
}

// InstrumentedStore is a sessions.Store that times the one it wraps; see
// Metrics.Store. A method the Store interface gains later is passed
// through untimed until it is added here.
type InstrumentedStore struct {
	sessions.Store
	ops [storeOps]op
}

var _ sessions.Store = (*InstrumentedStore)(nil)

type op struct {
	duration prometheus.Observer
	errors   prometheus.Counter
}

// done records one call of o that started at start and returned err.
func (o op) done(start time.Time, err error) {
	o.duration.Observe(time.Since(start).Seconds())
	if storeFailure(err) {
		o.errors.Inc()
	}
}

// storeFailure reports whether err says the store failed, rather than
// answered.
func storeFailure(err error) bool {
	switch {
	case err == nil,
		errors.Is(err, sessions.ErrNotFound), errors.Is(err, sessions.ErrExists),
		errors.Is(err, sessions.ErrTooLarge), errors.Is(err, sessions.ErrConflict),
		errors.Is(err, sessions.ErrReplaced), errors.Is(err, context.Canceled):
		return false
	}
	return true
}

// Unwrap returns the store it times.
func (s *InstrumentedStore) Unwrap() sessions.Store { return s.Store }

// Load times Store.Load.
func (s *InstrumentedStore) Load(ctx context.Context, key string, touch *sessions.Touch) (*sessions.Record, error) {
	start := time.Now()
	rec, err := s.Store.Load(ctx, key, touch)
	s.ops[opLoad].done(start, err)
	return rec, err
}

// Create times Store.Create.
func (s *InstrumentedStore) Create(ctx context.Context, key string, rec *sessions.Record) error {
	start := time.Now()
	err := s.Store.Create(ctx, key, rec)
	s.ops[opCreate].done(start, err)
	return err
}

// Apply times Store.Apply.
func (s *InstrumentedStore) Apply(ctx context.Context, key string, d *sessions.Delta) (int64, error) {
	start := time.Now()
	v, err := s.Store.Apply(ctx, key, d)
	s.ops[opApply].done(start, err)
	return v, err
}

// Regenerate times Store.Regenerate.
func (s *InstrumentedStore) Regenerate(ctx context.Context, oldKey, newKey string, d *sessions.Delta) (*sessions.Record, error) {
	start := time.Now()
	rec, err := s.Store.Regenerate(ctx, oldKey, newKey, d)
	s.ops[opRegenerate].done(start, err)
	return rec, err
}

// Delete times Store.Delete.
func (s *InstrumentedStore) Delete(ctx context.Context, key string) error {
	start := time.Now()
	err := s.Store.Delete(ctx, key)
	s.ops[opDelete].done(start, err)
	return err
}

// ByPrincipal times Store.ByPrincipal.
func (s *InstrumentedStore) ByPrincipal(ctx context.Context, p string) ([]string, error) {
	start := time.Now()
	keys, err := s.Store.ByPrincipal(ctx, p)
	s.ops[opByPrincipal].done(start, err)
	return keys, err
}
