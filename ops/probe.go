package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"unicode"
)

// probeBodyBytes bounds how much of a failed probe's body Probe quotes in
// its error (the start of /readyz's report says which check fails).
const probeBodyBytes = 512

// ProbeURL returns the URL Probe should GET for addr, which is either an
// http(s) URL ("http://10.0.0.5:9100/readyz"; an empty path or "/" means
// /healthz) or a listen address as in ops.listen ("0.0.0.0:9100"; an
// unspecified host, "", "0.0.0.0" or "::", means the loopback address,
// where a listener on every interface answers too). The error says what is
// wrong with addr.
func ProbeURL(addr string) (string, error) {
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			// addr is not echoed: it may hold credentials.
			return "", errors.New("probe URL: want http://host:port[/path] or https://..., without user info")
		}
		if u.Path == "" || u.Path == "/" {
			u.Path = "/healthz"
		}
		return u.String(), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		return "", fmt.Errorf("probe address %q: want host:port or a URL", addr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
		if ip != nil && ip.To4() == nil {
			host = "::1"
		}
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}

// Probe sends GET rawURL, as a health check does, and returns nil when it
// answers 200. Otherwise the error names the URL and either the failure
// (connection refused, the ctx's deadline) or the status with the start of
// the body. It takes no proxy from the environment and follows no
// redirect (a 3xx is a failure); ctx bounds the whole probe.
func Probe(ctx context.Context, rawURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return fmt.Errorf("probe %s: %w", rawURL, err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	defer tr.CloseIdleConnections()
	hc := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is named once, below
		}
		return fmt.Errorf("GET %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, probeBodyBytes))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	msg := strings.Join(strings.Fields(strings.Map(printable, string(body))), " ")
	if msg != "" {
		msg = ": " + msg
	}
	return fmt.Errorf("GET %s: %s%s", rawURL, resp.Status, msg)
}

// printable keeps r unless it is a control or other unprintable rune,
// which becomes a space: a probe's error goes to a terminal or a log.
func printable(r rune) rune {
	if unicode.IsPrint(r) {
		return r
	}
	return ' '
}
