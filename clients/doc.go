// Package clients holds Sidecar's app kits: small libraries for PHP, CFML,
// Node and Python that verify the X-Sidecar-Session header, expose the
// session and write it back (docs/protocol.md), each in its own folder
// with its own README and tests.
//
// The Go package has no API. Its tests generate and check
// testdata/vectors.json, the shared test vectors every kit's tests run
// (tokens signed by Sidecar's own sessions.HeaderSigner, valid and
// invalid, the expected patch headers for sequences of set/merge/remove
// writes with the session data Sidecar stores after them, checked by
// committing them through the session Manager, and the writes every kit
// must refuse), and run each kit's own test suite. Regenerate the vectors with
//
//	go test ./clients -run TestVectors -update
package clients
