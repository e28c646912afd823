package app

import (
	"fmt"

	"github.com/sidecarproxy/sidecar/cmd/sidecar/config"
	"github.com/sidecarproxy/sidecar/proxy"
)

// errorPages reads the operator's error pages (proxy.error_pages.dir): at
// start, `sidecar check` included, and again on every reload, whether the
// key changed or only the files did. An error names the key.
func errorPages(c *config.Config) (*proxy.ErrorPages, error) {
	pages, err := proxy.LoadErrorPages(c.Proxy.ErrorPages.Dir)
	if err != nil {
		return nil, fmt.Errorf("proxy.error_pages.dir: %w", err)
	}
	return pages, nil
}
