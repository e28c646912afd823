//go:build race

package sessions

// raceEnabled: the race detector is on, and sync.Pool drops some of what
// is put back, so pooling cannot be measured.
const raceEnabled = true
