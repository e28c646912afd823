// Package tlsedge holds what Sidecar's client-facing TLS needs besides
// crypto/tls itself: a static certificate that follows its files on disk
// ([FileCertificate], for cert-manager-style rotation), the plain-HTTP
// handler that sends clients to HTTPS ([Redirect]) and the
// Strict-Transport-Security header ([HSTS]).
//
// It reads no configuration and starts no goroutine: cmd/sidecar/app builds
// these from the config and hands them to package server; automatic
// certificates (ACME, through certmagic) are wired there too.
package tlsedge
