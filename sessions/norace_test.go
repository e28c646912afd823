//go:build !race

package sessions

// raceEnabled: the race detector is off.
const raceEnabled = false
