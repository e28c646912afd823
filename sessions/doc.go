// Package sessions is Sidecar's session domain: cookie tokens and their
// signatures, the Manager that loads, creates, writes, regenerates and
// destroys sessions, the JWT handed to apps, and the Store interface that
// adapters in stores/ implement.
package sessions
