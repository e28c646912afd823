package config

// ErrorPagesConfig is proxy.error_pages: the pages of the 502, 503 and 504
// responses Sidecar itself sends (an app unreachable, the store or every
// upstream unavailable, an app too slow), which operators may replace.
// Reloadable: SIGHUP reads the files again, even when the key is
// unchanged.
type ErrorPagesConfig struct {
	// Dir holds the operator's pages: any of 502.html, 503.html,
	// 504.html (for browsers) and 502.json, 503.json, 504.json (for
	// Accept: application/json), each at most proxy.MaxErrorPageBytes
	// (64 KiB), UTF-8, the .json ones valid JSON; "{{request_id}}" in a
	// page becomes the request's id. A page without a file, and every
	// page when Dir is "" (the default), is the built-in one, which names
	// the status and the request id and nothing else. The files are read
	// at start (by `sidecar check` too) and on SIGHUP; one that cannot be
	// read or breaks these rules stops the start, or refuses the reload.
	Dir string `koanf:"dir"`
}
