package cli

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/sidecarproxy/sidecar/internal/admintest"
)

// TestResolve: --config asks Env.Resolve for what --admin and
// --token-file leave to find, and its answers and errors reach the user
// as the config file's.
func TestResolve(t *testing.T) {
	e := admintest.New(t, "app1")
	listen := e.Server.Listener.Addr().String()
	for name, tc := range map[string]struct {
		args        []string
		addr, token string
		err         error
		code        int
		want        string
	}{
		"address and token": {[]string{"--config", "c.yaml"}, listen, admintest.Token, nil, 0, "app1"},
		"flags first":       {append([]string{"--config", "c.yaml"}, e.Flags()...), "", "", errors.New("not asked"), 0, "app1"},
		"disabled":          {[]string{"--config", "c.yaml"}, "", admintest.Token, nil, 2, "sidecar upstreams: the admin API is disabled in c.yaml: set admin.listen"},
		"no token":          {[]string{"--config", "c.yaml"}, listen, "", nil, 2, "no admin token"},
		"invalid":           {[]string{"--config", "c.yaml"}, "", "", errors.New("a: bad\nb: bad"), 2, "invalid config c.yaml:\n  a: bad\n  b: bad\n"},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			resolve := func(f string) (string, []byte, error) {
				assert.Equal(t, "c.yaml", f)
				return tc.addr, []byte(tc.token), tc.err
			}
			code := Upstreams(append([]string{"list"}, tc.args...), Env{Resolve: resolve, Stdout: &out, Stderr: &errOut})
			assert.Equal(t, tc.code, code, errOut.String())
			assert.Contains(t, out.String()+errOut.String(), tc.want)
		})
	}
}
