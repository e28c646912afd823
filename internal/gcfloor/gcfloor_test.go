package gcfloor

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		floor, live uint64
		want        int
	}{
		{32 * mib, 0, 800},        // before the first collection: the runtime's minimum heap at the floor
		{32 * mib, 1 * mib, 800},  // 3100 would put the runtime's minimum heap at 124 MiB
		{32 * mib, 4 * mib, 700},  // 4 MiB × 8 = 32 MiB
		{32 * mib, 8 * mib, 300},  // 8 MiB × 4
		{32 * mib, 16 * mib, 100}, // at half the floor GOGC=100 reaches it
		{32 * mib, 64 * mib, 100}, // above the floor: Go's default
		{4 * mib, 1 * mib, 100},   // a floor at the runtime's own minimum changes nothing
		{64 * mib, 10 * mib, 540},
	} {
		assert.Equal(t, tc.want, Percent(tc.floor, tc.live), "floor %d MiB, live %d bytes", tc.floor/mib, tc.live)
	}
}

func TestTunerFollowsTheLiveHeap(t *testing.T) {
	const mib = 1 << 20
	live := uint64(2 * mib)
	var set []int
	tu := &tuner{floor: 32 * mib, live: func() uint64 { return live }, set: func(p int) int { set = append(set, p); return 100 }}
	assert.Equal(t, 100, tu.adjust(), "the first call returns the percentage it replaced")
	live = 2*mib + mib/10 // within a tenth of the same percentage: left alone
	tu.adjust()
	live = 8 * mib
	tu.adjust()
	live = 40 * mib
	tu.adjust()
	assert.Equal(t, []int{800, 300, 100}, set)
}

func TestStartRespectsGOGC(t *testing.T) {
	t.Setenv("GOGC", "100")
	before := debug.SetGCPercent(150)
	defer debug.SetGCPercent(before)
	Start(DefaultMinHeap)()
	assert.Equal(t, 150, debug.SetGCPercent(150), "with GOGC set the percentage is the operator's")
}

func TestStartAndStop(t *testing.T) {
	t.Setenv("GOGC", "") // Start looks for a non-empty GOGC
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	stop := Start(64 << 20)
	got := debug.SetGCPercent(-1) // reads the percentage Start set...
	debug.SetGCPercent(got)       // ...and puts it back
	require.Greater(t, got, 100, "a test binary's heap is far below 64 MiB")
	stop()
	stop() // twice is harmless
	assert.Equal(t, 100, debug.SetGCPercent(100), "stop restores the percentage")
}
