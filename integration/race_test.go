//go:build race

package integration

// raceEnabled: the tests run with -race, so the binaries they start are
// built with it too.
const raceEnabled = true
