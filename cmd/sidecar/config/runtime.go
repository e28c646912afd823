package config

// RuntimeConfig tunes the Go runtime under Sidecar. It takes a restart.
type RuntimeConfig struct {
	// GCMinHeapBytes is the heap, in bytes, below which the garbage
	// collector does not run (see internal/gcfloor): at Go's default the
	// collector starts a cycle every 4 MiB, hundreds of times a second
	// under load. Above it the collector runs as at GOGC=100. 0 leaves
	// Go's default; GOGC in the environment overrides it, and a
	// GOMEMLIMIT still caps the heap. Default 33554432 (32 MiB).
	GCMinHeapBytes int64 `koanf:"gc_min_heap_bytes"`
}

// maxGCMinHeap bounds runtime.gc_min_heap_bytes: 64 GiB.
const maxGCMinHeap = 64 << 30

func (r RuntimeConfig) validate(p *problems) {
	if r.GCMinHeapBytes < 0 || r.GCMinHeapBytes > maxGCMinHeap {
		p.add("runtime.gc_min_heap_bytes", "must be from 0 (Go's default) to %d (64 GiB), got %d", int64(maxGCMinHeap), r.GCMinHeapBytes)
	}
}
