package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sidecarproxy/sidecar/proxy"
)

// Errors a Client returns, for errors.Is. A Client's errors also wrap
// proxy.ErrUnknownUpstream when the API does not know the upstream named.
var (
	// ErrUnauthorized: the API refused the token (401).
	ErrUnauthorized = errors.New("admin: token rejected")
	// ErrNotReached: Wait's context ended before the upstream met the
	// condition.
	ErrNotReached = errors.New("admin: condition not reached")
)

const (
	// maxResponseBytes bounds a response body the Client reads.
	maxResponseBytes = 16 << 20
	// defaultPoll is Wait's poll interval when it is given none.
	defaultPoll = 500 * time.Millisecond
)

// Client calls the admin API with its bearer token: what "sidecar
// upstreams" runs, and what a deploy tool written in Go can use. Its
// errors never include the token. It is safe for concurrent use.
type Client struct {
	base  string // no trailing slash
	token string
	hc    *http.Client
}

// NewClient returns a Client of the admin API at addr that presents token.
//
// addr is an http or https URL ("http://127.0.0.1:9901"; a trailing slash
// is ignored) or a listen address as in admin.listen ("127.0.0.1:9901";
// an unspecified host, "", "0.0.0.0" or "::", means the loopback address).
//
// A nil hc means an http.Client of the Client's own that takes no proxy
// from the environment and follows no redirect, so the token goes to addr
// and nowhere else. A non-nil hc is used as it is. The Client adds no
// timeout of its own: each call lasts as long as its ctx allows.
//
// The error names what is wrong with addr, or says token is empty.
func NewClient(addr string, token []byte, hc *http.Client) (*Client, error) {
	if len(token) == 0 {
		return nil, errors.New("admin: the token is required")
	}
	base, err := baseURL(addr)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		hc = &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return &Client{base: base, token: string(token), hc: hc}, nil
}

// baseURL turns an http(s) URL or a listen address (host:port; an
// unspecified host means loopback) into the API's base URL.
func baseURL(addr string) (string, error) {
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return "", fmt.Errorf("admin address %q: want http://host:port or https://host:port", addr)
		}
		return strings.TrimRight(addr, "/"), nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("admin address %q: want host:port or a URL", addr)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// CloseIdleConnections closes the idle connections of the Client's
// http.Client (the caller's, if NewClient was given one).
func (c *Client) CloseIdleConnections() { c.hc.CloseIdleConnections() }

// List returns every upstream's State in configured order: GET
// /upstreams.
func (c *Client) List(ctx context.Context) ([]proxy.State, error) {
	raw, err := c.call(ctx, http.MethodGet, "/upstreams")
	if err != nil {
		return nil, err
	}
	var l UpstreamList
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("decoding GET /upstreams: %w", err)
	}
	return l.Upstreams, nil
}

// State returns the named upstream's State, from GET /upstreams. An
// upstream the API does not list is an error wrapping
// proxy.ErrUnknownUpstream.
func (c *Client) State(ctx context.Context, name string) (proxy.State, error) {
	states, err := c.List(ctx)
	if err != nil {
		return proxy.State{}, err
	}
	for _, s := range states {
		if s.Name == name {
			return s, nil
		}
	}
	return proxy.State{}, &clientError{msg: fmt.Sprintf("unknown upstream %q", name), kind: proxy.ErrUnknownUpstream}
}

// SetDraining drains (on) or undrains (off) the named upstream and returns
// its new State: POST /upstreams/{name}/drain or /undrain. Both are
// idempotent. An upstream the API does not know is an error wrapping
// proxy.ErrUnknownUpstream.
func (c *Client) SetDraining(ctx context.Context, name string, on bool) (proxy.State, error) {
	op := "undrain"
	if on {
		op = "drain"
	}
	raw, err := c.call(ctx, http.MethodPost, "/upstreams/"+url.PathEscape(name)+"/"+op)
	if err != nil {
		if ce, ok := errors.AsType[*clientError](err); ok && ce.status == http.StatusNotFound {
			ce.kind = proxy.ErrUnknownUpstream // the API's 404 for a name it does not know
		}
		return proxy.State{}, err
	}
	var st proxy.State
	if err := json.Unmarshal(raw, &st); err != nil {
		return proxy.State{}, fmt.Errorf("decoding the %s response: %w", op, err)
	}
	return st, nil
}

// Probe asks the API to probe the named upstream now (POST
// /upstreams/{name}/probe, proxy.Pool.Probe): a TCP connect (and a TLS
// handshake for an https:// upstream), or the health check path when one
// is configured. A failed probe is a result with OK
// false, not an error. An upstream the API does not know is an error
// wrapping proxy.ErrUnknownUpstream.
func (c *Client) Probe(ctx context.Context, name string) (proxy.ProbeResult, error) {
	raw, err := c.call(ctx, http.MethodPost, "/upstreams/"+url.PathEscape(name)+"/probe")
	if err != nil {
		if ce, ok := errors.AsType[*clientError](err); ok && ce.status == http.StatusNotFound {
			ce.kind = proxy.ErrUnknownUpstream
		}
		return proxy.ProbeResult{}, err
	}
	var r proxy.ProbeResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return proxy.ProbeResult{}, fmt.Errorf("decoding the probe response: %w", err)
	}
	return r, nil
}

// Wait polls the named upstream's State, at once and then every poll (0
// or less means 500ms), until cond holds, and returns that State.
//
// A failed poll ends the wait with its error, unless ctx has ended by then
// and an earlier poll succeeded. When ctx ends first, Wait returns the
// last State it saw and an error wrapping both ErrNotReached and
// ctx.Err(). On every error the State returned is the last one seen (the
// zero State if none).
func (c *Client) Wait(ctx context.Context, name string, cond func(proxy.State) bool, poll time.Duration) (proxy.State, error) {
	if poll <= 0 {
		poll = defaultPoll
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	var (
		last proxy.State
		seen bool
	)
	for {
		st, err := c.State(ctx, name)
		switch {
		case err == nil && cond(st):
			return st, nil
		case err == nil:
			last, seen = st, true
		case ctx.Err() == nil || !seen:
			return last, err
		}
		if ctx.Err() == nil {
			select {
			case <-t.C:
				continue
			case <-ctx.Done():
			}
		}
		return last, errors.Join(fmt.Errorf("%w: %s is %s with %d request(s) in flight",
			ErrNotReached, last.Name, last.State, last.InFlight), ctx.Err())
	}
}

// call sends one request and returns the body of a 200, or an error that
// carries the API's {"error"} message.
func (c *Client) call(ctx context.Context, method, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("calling the admin API: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", method, path, err)
	}
	switch resp.StatusCode {
	case http.StatusOK:
		return body, nil
	case http.StatusUnauthorized:
		return nil, &clientError{status: resp.StatusCode, kind: ErrUnauthorized,
			msg: fmt.Sprintf("the admin API at %s rejected the token (401 Unauthorized)", c.base)}
	}
	msg := resp.Status
	var er ErrorResponse
	if json.Unmarshal(body, &er) == nil && er.Error != "" {
		msg += ": " + er.Error
	}
	return nil, &clientError{status: resp.StatusCode, msg: fmt.Sprintf("%s %s: %s", method, path, msg)}
}

// clientError is a refusal by the API, or an upstream it does not list:
// a message for people and, when a caller may branch on it, a sentinel.
type clientError struct {
	status int    // the response's status; 0 if none
	msg    string // never the token
	kind   error  // ErrUnauthorized, proxy.ErrUnknownUpstream or nil
}

func (e *clientError) Error() string { return e.msg }

// Unwrap returns the sentinel the error is an instance of, if any.
func (e *clientError) Unwrap() error { return e.kind }
