package admin

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// drain returns the handler of the page's POST /ui/upstreams/{name}/drain
// (on) or /undrain: it sets the drain state and redirects back to the
// page (303, so a reload does not post again).
func (p *page) drain(on bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if _, err := p.h.setDraining(r, name, on); err != nil {
			p.failErr(w, err)
			return
		}
		key := "undrained"
		if on {
			key = "drained"
		}
		back(w, r, url.Values{key: {name}})
	}
}

// revokeAll answers the page's POST /ui/sessions/revoke, form field
// principal: log the principal out everywhere, then back to its (now
// empty) list.
func (p *page) revokeAll(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.failErr(w, badRequest("unreadable form"))
		return
	}
	principal, err := principalIn(r.PostForm["principal"])
	if err != nil {
		p.failErr(w, err)
		return
	}
	n, err := p.h.revokeAll(r, principal)
	if err != nil {
		p.failErr(w, err)
		return
	}
	back(w, r, url.Values{"principal": {principal}, "revoked": {strconv.Itoa(n)}})
}

// revokeOne answers the page's POST /ui/sessions/{handle}/revoke; the
// form's principal, when valid, is where to go back to.
func (p *page) revokeOne(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		p.failErr(w, badRequest("unreadable form"))
		return
	}
	if err := p.h.revokeOne(r, r.PathValue("handle")); err != nil {
		p.failErr(w, err)
		return
	}
	v := url.Values{"revoked": {"1"}}
	if principal, err := principalIn(r.PostForm["principal"]); err == nil {
		v.Set("principal", principal)
	}
	back(w, r, v)
}

// back redirects to the page with query v: 303 See Other, the
// post/redirect/get pattern.
func back(w http.ResponseWriter, r *http.Request, v url.Values) {
	http.Redirect(w, r, "/?"+v.Encode(), http.StatusSeeOther)
}

// failErr answers err's status and message (classify) as an HTML page.
func (p *page) failErr(w http.ResponseWriter, err error) {
	code, msg := classify(err)
	p.fail(w, code, msg)
}

// hostAllowed reports whether hostport, a request's Host, is one DNS
// rebinding cannot produce: an IP address, localhost, or a name of
// Options.Hosts, with any port. A page of evil.example whose name an
// attacker has pointed at 127.0.0.1 reaches this listener with "Host:
// evil.example", so it is refused before its credentials are looked at
// (and so cannot lock the address out either). The port is not compared:
// it is the name that an attacker controls, and an SSH tunnel changes
// the port.
func (p *page) hostAllowed(hostport string) bool {
	name := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		name = h
	} else {
		name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	}
	if _, err := netip.ParseAddr(name); err == nil {
		return true
	}
	name = strings.ToLower(name)
	return name == "localhost" || p.hosts[name]
}

// sameOrigin returns an error unless the state-changing request r comes
// from the page's own origin: its Origin, or its Referer when a browser
// sent no Origin, must be an http or https URL whose host:port is r's
// Host. A request with neither is refused too: browsers send one with
// every form post, and other clients have the JSON API.
func sameOrigin(r *http.Request) error {
	src, what := r.Header.Get("Origin"), "Origin"
	if src == "" {
		src, what = r.Referer(), "Referer"
	}
	if src == "" {
		return errors.New("a form post must carry an Origin or Referer header (browsers send one); scripts use the JSON API")
	}
	u, err := url.Parse(src)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || !strings.EqualFold(u.Host, r.Host) {
		return fmt.Errorf("the request's %s is not this page's origin: a form of another site cannot post here", what)
	}
	return nil
}
