package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/sidecarproxy/sidecar/sessions"
)

// Sessions lists principal's live sessions: GET /sessions?principal=P.
func (c *Client) Sessions(ctx context.Context, principal string) (SessionList, error) {
	var l SessionList
	raw, err := c.call(ctx, http.MethodGet, "/sessions?principal="+url.QueryEscape(principal))
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return l, fmt.Errorf("decoding GET /sessions: %w", err)
	}
	return l, nil
}

// RevokePrincipal revokes every session of principal ("log out
// everywhere") and returns how many there were: DELETE
// /sessions?principal=P.
func (c *Client) RevokePrincipal(ctx context.Context, principal string) (int, error) {
	raw, err := c.call(ctx, http.MethodDelete, "/sessions?principal="+url.QueryEscape(principal))
	if err != nil {
		return 0, err
	}
	var r Revoked
	if err := json.Unmarshal(raw, &r); err != nil {
		return 0, fmt.Errorf("decoding DELETE /sessions: %w", err)
	}
	return r.Revoked, nil
}

// RevokeHandle revokes the session whose handle (sid) is handle: DELETE
// /sessions/{handle}. Its error wraps sessions.ErrNotFound when no live
// session has that handle, and sessions.ErrReplaced when a login
// regenerated the session meanwhile (list the principal's sessions
// again).
func (c *Client) RevokeHandle(ctx context.Context, handle string) error {
	_, err := c.call(ctx, http.MethodDelete, "/sessions/"+url.PathEscape(handle))
	if ce, ok := errors.AsType[*clientError](err); ok {
		switch ce.status {
		case http.StatusNotFound:
			ce.kind = sessions.ErrNotFound
		case http.StatusConflict:
			ce.kind = sessions.ErrReplaced
		}
	}
	return err
}

// SessionCount returns the count of live sessions: GET /sessions/count.
func (c *Client) SessionCount(ctx context.Context) (SessionCount, error) {
	var sc SessionCount
	raw, err := c.call(ctx, http.MethodGet, "/sessions/count")
	if err != nil {
		return sc, err
	}
	if err := json.Unmarshal(raw, &sc); err != nil {
		return sc, fmt.Errorf("decoding GET /sessions/count: %w", err)
	}
	return sc, nil
}
