// Package tlsedge holds what Sidecar's client-facing TLS needs besides
// crypto/tls itself: a static certificate that follows its files on disk
// ([FileCertificate], for cert-manager-style rotation), automatic
// certificates from an ACME CA through certmagic ([ACME], with
// [LoadACMERoots] and [ACMEFileStorage]), the plain-HTTP handler that
// sends clients to HTTPS ([Redirect]) and the Strict-Transport-Security
// header ([HSTS]).
//
// It reads no configuration: cmd/sidecar/app builds these from the config
// (choosing ACME's storage and building its loggers) and hands them to
// package server. Only [ACME] starts goroutines, from [ACME.Start]; they
// end at [ACME.Close].
package tlsedge
