package proxy_test

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/proxy"
	"github.com/sidecarproxy/sidecar/sessions"
)

func trusted(t *testing.T, list ...string) proxy.TrustedProxies {
	t.Helper()
	var out proxy.TrustedProxies
	for _, s := range list {
		p, err := proxy.ParseTrustedProxy(s)
		require.NoError(t, err, s)
		out = append(out, p)
	}
	return out
}

func TestParseTrustedProxy(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{in: " 10.1.2.3/8 ", want: "10.0.0.0/8"},
		{in: "192.0.2.7", want: "192.0.2.7/32"},
		{in: "::1", want: "::1/128"},
		{in: "fd00::/8", want: "fd00::/8"},
		{in: "::ffff:192.0.2.7", want: "192.0.2.7/32"},
		{in: "", err: "empty"},
		{in: "lb.internal", err: "neither"},
		{in: "10.0.0.0/33", err: "neither"},
		{in: "::ffff:10.0.0.0/104", err: "as IPv4"},
		{in: "fe80::1%eth0", err: "zones"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, err := proxy.ParseTrustedProxy(tt.in)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, p.String())
		})
	}
}

// TestDerive is the walk of issue 10 item 3: an untrusted peer's
// forwarding headers are replaced, a trusted peer's chain is appended to,
// and the client is the rightmost untrusted address.
func TestDerive(t *testing.T) {
	lb := trusted(t, "10.0.0.0/8", "2001:db8:ffff::/48")
	tests := []struct {
		name    string
		trust   proxy.TrustedProxies
		remote  string
		tls     bool
		header  http.Header
		client  string // "" for none
		chain   string // the X-Forwarded-For sent on
		proto   string
		host    string
		problem string
	}{
		{
			name: "default trusts nobody: every spoofed header is replaced", trust: nil,
			remote: "10.1.1.1:5000",
			header: http.Header{"X-Forwarded-For": {"7.7.7.7"}, "X-Forwarded-Proto": {"https"},
				"X-Forwarded-Host": {"evil.example"}, "Forwarded": {"for=7.7.7.7;proto=https"}},
			client: "10.1.1.1", chain: "10.1.1.1", proto: "http", host: "app.example",
		},
		{
			name: "untrusted peer spoofing is replaced", trust: lb,
			remote: "203.0.113.9:5000",
			header: http.Header{"X-Forwarded-For": {"10.0.0.1"}, "X-Forwarded-Proto": {"https"},
				"X-Forwarded-Host": {"evil.example"}},
			client: "203.0.113.9", chain: "203.0.113.9", proto: "http", host: "app.example",
		},
		{
			name: "untrusted peer on TLS claiming http is https", trust: lb,
			remote: "203.0.113.9:5000", tls: true,
			header: http.Header{"X-Forwarded-Proto": {"http"}},
			client: "203.0.113.9", chain: "203.0.113.9", proto: "https", host: "app.example",
		},
		{
			name: "trusted load balancer terminating TLS", trust: lb,
			remote: "10.0.0.2:5000",
			header: http.Header{"X-Forwarded-For": {"198.51.100.4"}, "X-Forwarded-Proto": {"https"},
				"X-Forwarded-Host": {"www.example:8443"}},
			client: "198.51.100.4", chain: "198.51.100.4, 10.0.0.2", proto: "https", host: "www.example:8443",
		},
		{
			name: "trusted peer without forwarding headers is the client", trust: lb,
			remote: "10.0.0.2:5000",
			client: "10.0.0.2", chain: "10.0.0.2", proto: "http", host: "app.example",
		},
		{
			name: "entries the client wrote left of its address are dropped", trust: lb,
			remote: "10.0.0.2:5000",
			header: http.Header{"X-Forwarded-For": {"10.9.9.9, 1.1.1.1, 198.51.100.4"}},
			client: "198.51.100.4", chain: "198.51.100.4, 10.0.0.2", proto: "http", host: "app.example",
		},
		{
			name: "several trusted hops, over several header lines", trust: lb,
			remote: "10.0.0.2:5000",
			header: http.Header{"X-Forwarded-For": {"6.6.6.6, 198.51.100.4,10.0.0.7", " 10.0.0.8 ", ""}},
			client: "198.51.100.4", chain: "198.51.100.4, 10.0.0.7, 10.0.0.8, 10.0.0.2", proto: "http", host: "app.example",
		},
		{
			name: "every address trusted: the leftmost is the client", trust: lb,
			remote: "10.0.0.2:5000",
			header: http.Header{"X-Forwarded-For": {"10.0.0.5, 10.0.0.6"}},
			client: "10.0.0.5", chain: "10.0.0.5, 10.0.0.6, 10.0.0.2", proto: "http", host: "app.example",
		},
		{
			name: "ports are dropped, empty entries skipped", trust: lb,
			remote: "10.0.0.2:5000",
			header: http.Header{"X-Forwarded-For": {"198.51.100.4:4711, , [2001:db8:ffff::9]:443,"}},
			client: "198.51.100.4", chain: "198.51.100.4, 2001:db8:ffff::9, 10.0.0.2", proto: "http", host: "app.example",
		},
		{
			name: "IPv6 peer and client", trust: lb,
			remote: "[2001:db8:ffff::1]:5000",
			header: http.Header{"X-Forwarded-For": {"2001:db8:1::7"}, "X-Forwarded-Proto": {"HTTPS"}},
			client: "2001:db8:1::7", chain: "2001:db8:1::7, 2001:db8:ffff::1", proto: "https", host: "app.example",
		},
		{
			name: "IPv4-mapped peer matches IPv4 prefixes", trust: lb,
			remote: "[::ffff:10.0.0.2]:5000",
			header: http.Header{"X-Forwarded-For": {"[2001:db8:1::7]"}},
			client: "2001:db8:1::7", chain: "2001:db8:1::7, 10.0.0.2", proto: "http", host: "app.example",
		},
		{
			name: "garbage stops the walk at the hop that wrote it", trust: lb,
			remote: "10.0.0.2:5000",
			header: http.Header{"X-Forwarded-For": {"198.51.100.4, unknown, 10.0.0.7"}},
			client: "10.0.0.7", chain: "10.0.0.7, 10.0.0.2", proto: "http", host: "app.example", problem: proxy.ForwardedMalformed,
		},
		{
			name: "garbage next to the peer: the peer is the client", trust: lb,
			remote: "10.0.0.2:5000",
			header: http.Header{"X-Forwarded-For": {"<script>"}},
			client: "10.0.0.2", chain: "10.0.0.2", proto: "http", host: "app.example", problem: proxy.ForwardedMalformed,
		},
		{
			name: "an overlong entry is garbage", trust: lb,
			remote: "10.0.0.2:5000",
			header: http.Header{"X-Forwarded-For": {strings.Repeat("1", 100)}},
			client: "10.0.0.2", chain: "10.0.0.2", proto: "http", host: "app.example", problem: proxy.ForwardedMalformed,
		},
		{
			name: "insane proto and host from a trusted peer are ignored", trust: lb,
			remote: "10.0.0.2:5000", tls: true,
			header: http.Header{"X-Forwarded-Proto": {"https, http"}, "X-Forwarded-Host": {"a.example/evil"}},
			client: "10.0.0.2", chain: "10.0.0.2", proto: "https", host: "app.example",
		},
		{
			name: "proto sent twice and unknown proto are ignored", trust: lb,
			remote: "10.0.0.2:5000",
			header: http.Header{"X-Forwarded-Proto": {"https", "https"}, "X-Forwarded-Host": {"a.example", "b.example"}},
			client: "10.0.0.2", chain: "10.0.0.2", proto: "http", host: "app.example",
		},
		{
			name: "a trusted http over TLS is believed", trust: lb,
			remote: "10.0.0.2:5000", tls: true,
			header: http.Header{"X-Forwarded-Proto": {"http"}},
			client: "10.0.0.2", chain: "10.0.0.2", proto: "http", host: "app.example",
		},
		{
			name: "unknown peer address", trust: lb,
			remote: "@", header: http.Header{"X-Forwarded-For": {"198.51.100.4"}},
			proto: "http", host: "app.example",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "http://app.example/", nil)
			r.RemoteAddr = tt.remote
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.header != nil {
				r.Header = tt.header
			}
			f := tt.trust.Derive(r)
			if tt.client == "" {
				assert.False(t, f.Client.IsValid(), "no client")
			} else {
				assert.Equal(t, tt.client, f.Client.String(), "client")
			}
			assert.Equal(t, tt.proto, f.Proto, "proto")
			assert.Equal(t, tt.host, f.Host, "host")
			assert.Equal(t, tt.problem, f.Problem, "problem")

			out := http.Header{"Forwarded": {"for=1.1.1.1"}, "X-Forwarded-For": {"1.1.1.1"}}
			f.SetHeaders(out)
			assert.Equal(t, tt.chain, out.Get("X-Forwarded-For"), "X-Forwarded-For")
			assert.Len(t, out.Values("X-Forwarded-For"), min(1, len(tt.chain)))
			assert.Equal(t, []string{tt.proto}, out.Values("X-Forwarded-Proto"))
			assert.Equal(t, []string{tt.host}, out.Values("X-Forwarded-Host"))
			assert.Len(t, out.Values("Forwarded"), 1)
		})
	}
}

// TestDeriveCapsTheChain: a chain of trusted addresses longer than
// MaxForwardedHops is cut to its rightmost MaxForwardedHops, and reading
// it stops there.
func TestDeriveCapsTheChain(t *testing.T) {
	lb := trusted(t, "10.0.0.0/8")
	var hops []string
	for i := range 3 * proxy.MaxForwardedHops {
		hops = append(hops, netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}).String())
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = "10.0.0.2:5000"
	r.Header.Set("X-Forwarded-For", "198.51.100.4, "+strings.Join(hops, ", "))
	f := lb.Derive(r)
	assert.Equal(t, proxy.ForwardedTooLong, f.Problem)
	require.Len(t, f.Chain, proxy.MaxForwardedHops+1, "the hops read and the peer")
	assert.Equal(t, hops[len(hops)-proxy.MaxForwardedHops], f.Client.String(), "the last address read")

	r.Header.Set("X-Forwarded-For", "198.51.100.4, "+strings.Join(hops[:proxy.MaxForwardedHops-1], ", "))
	f = lb.Derive(r)
	assert.Empty(t, f.Problem, "exactly MaxForwardedHops addresses fit")
	assert.Equal(t, "198.51.100.4", f.Client.String())
}

func TestForwardedHeader(t *testing.T) {
	tests := []struct {
		name string
		f    proxy.Forwarded
		want string
	}{
		{"IPv4", proxy.Forwarded{Chain: addrs("192.0.2.1"), Proto: "http", Host: "example.com"},
			"for=192.0.2.1;host=example.com;proto=http"},
		{"IPv6 is quoted in brackets, a host with a port quoted",
			proxy.Forwarded{Chain: addrs("2001:db8::1", "10.0.0.2", "::1"), Proto: "https", Host: "example.com:8443"},
			`for="[2001:db8::1]";host="example.com:8443";proto=https, for=10.0.0.2, for="[::1]"`},
		{"no client, no host", proxy.Forwarded{Proto: "http"}, "proto=http"},
		{"a quote and a backslash in a host are escaped", proxy.Forwarded{Proto: "http", Host: `a"b\c`},
			`host="a\"b\\c";proto=http`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			tt.f.SetHeaders(h)
			assert.Equal(t, tt.want, h.Get("Forwarded"))
		})
	}
}

func addrs(list ...string) []netip.Addr {
	out := make([]netip.Addr, len(list))
	for i, s := range list {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

func TestNilTrustsNobody(t *testing.T) {
	assert.False(t, proxy.TrustedProxies(nil).Contains(netip.MustParseAddr("127.0.0.1")), "nil trusts nobody")
}

// TestProxyForwarding runs the whole Proxy with and without trusting the
// test client's address (127.0.0.1): a trusted X-Forwarded-Proto: https
// makes the cookie Secure and the app sees the forwarded client, an
// untrusted one changes nothing. Non-canonical spellings are dropped even
// from a trusted peer.
func TestProxyForwarding(t *testing.T) {
	spoof := map[string]string{
		"X-Forwarded-For":   "198.51.100.4",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-Host":  "www.example",
		"Forwarded":         "for=6.6.6.6",
		"X_Forwarded_For":   "6.6.6.6",
	}
	tests := []struct {
		name          string
		trust         []string
		xff, fwd      string
		proto, client string
		secure        bool
	}{
		{"trusted", []string{"127.0.0.1"}, "198.51.100.4, 127.0.0.1",
			"for=198.51.100.4;host=www.example;proto=https, for=127.0.0.1", "https", "198.51.100.4", true},
		{"untrusted", []string{"10.0.0.0/8"}, "127.0.0.1",
			`for=127.0.0.1;host="127.0.0.1:PORT";proto=http`, "http", "127.0.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(o *proxy.Options) { o.TrustedProxies = trusted(t, tt.trust...) })
			e.setRespond(func(w http.ResponseWriter, r *http.Request) { w.Header().Set("X-Sidecar-Patch", `{"a":1}`) })
			resp := e.do("", spoof)
			_ = body(t, resp)
			c := sessionCookie(t, resp)
			require.NotNil(t, c)
			assert.Equal(t, tt.secure, c.Secure, "Secure under cookie_secure auto")

			h := e.seen().header
			assert.Equal(t, []string{tt.xff}, h.Values("X-Forwarded-For"))
			assert.Equal(t, []string{tt.proto}, h.Values("X-Forwarded-Proto"))
			port := strings.TrimPrefix(e.srv.URL, "http://127.0.0.1:")
			assert.Equal(t, []string{strings.ReplaceAll(tt.fwd, "PORT", port)}, h.Values("Forwarded"))
			assert.Empty(t, h.Values("X_Forwarded_For"), "dropped even from a trusted peer")

			line := logLine(t, e.logs.String(), h.Get("X-Request-Id"))
			assert.Contains(t, line, `"client":"`+tt.client+`"`)
			assert.Contains(t, line, `"remote":"127.0.0.1:`)

			// The session keeps the client that created it, as derived.
			signer, err := sessions.NewSigner([][]byte{[]byte(cookieSecret)})
			require.NoError(t, err)
			tok, _, err := signer.Verify(c.Value)
			require.NoError(t, err)
			rec, err := e.store.Load(t.Context(), tok.Key(), nil)
			require.NoError(t, err)
			assert.Equal(t, tt.client, rec.ClientIP)
			assert.Equal(t, "Go-http-client/1.1", rec.UserAgent)
			assert.Equal(t, tok.SID(), rec.Handle)
		})
	}
}
