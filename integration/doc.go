// Package integration holds end-to-end tests of the whole program: real
// Sidecar instances (in-process via app.Main, and the built binary for
// signals), real redis-server processes and real HTTP app servers.
package integration
