package httpauth

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/internal/logtest"
)

const guardToken = "guard-test-token-0123456789"

type guardEnv struct {
	g     *Guard
	clock *clocktest.Clock
	logs  *logtest.Buffer
}

func newGuardEnv(t *testing.T, l Limits) *guardEnv {
	t.Helper()
	e := &guardEnv{clock: clocktest.New(), logs: &logtest.Buffer{}}
	l.Clock = e.clock.Now
	g, err := NewGuard(GuardOptions{Token: []byte(guardToken), Name: "test API", Limits: l, Logger: zerolog.New(e.logs)})
	require.NoError(t, err)
	t.Cleanup(g.Stop)
	e.g = g
	return e
}

// check sends one request from remote with token ("" for none) and
// returns the status Check decided (0: allowed) and the response headers.
func (e *guardEnv) check(remote, token string) (int, http.Header) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	return e.g.Check(w, r), w.Header()
}

func (e *guardEnv) fail(t *testing.T, remote string, n int) {
	t.Helper()
	for i := range n {
		status, h := e.check(remote, "wrong")
		require.Equal(t, http.StatusUnauthorized, status, "failure %d from %s", i+1, remote)
		require.Equal(t, "Bearer", h.Get("WWW-Authenticate"))
	}
}

func TestNewGuardNeedsAToken(t *testing.T) {
	_, err := NewGuard(GuardOptions{})
	assert.ErrorContains(t, err, "Token")
}

func TestLockoutAfterMaxFailures(t *testing.T) {
	e := newGuardEnv(t, Limits{})
	const a, b = "192.0.2.1:1000", "192.0.2.2:1000"
	e.fail(t, a, DefaultMaxFailures)

	status, h := e.check(a, "wrong")
	assert.Equal(t, http.StatusTooManyRequests, status, "the failure after the tenth")
	assert.Equal(t, "60", h.Get("Retry-After"))
	assert.Empty(t, h.Get("WWW-Authenticate"))
	status, _ = e.check("192.0.2.1:2000", guardToken)
	assert.Equal(t, http.StatusTooManyRequests, status, "the right token from a locked-out address, another port")
	status, _ = e.check(b, guardToken)
	assert.Zero(t, status, "another address is not affected")

	e.clock.Advance(29*time.Second + 500*time.Millisecond)
	_, h = e.check(a, guardToken)
	assert.Equal(t, "31", h.Get("Retry-After"), "rounded up to whole seconds")
	e.clock.Advance(30*time.Second + 500*time.Millisecond)
	status, _ = e.check(a, guardToken)
	assert.Zero(t, status, "the lockout is over after DefaultLockout")

	e.fail(t, a, DefaultMaxFailures-1)
	status, _ = e.check(a, guardToken)
	assert.Zero(t, status, "counting starts over after a lockout")
}

func TestFailuresCountWithinTheWindow(t *testing.T) {
	e := newGuardEnv(t, Limits{MaxFailures: 3, Window: 10 * time.Second, Lockout: 5 * time.Second})
	const a = "192.0.2.1:1000"
	e.fail(t, a, 2)
	e.clock.Advance(10 * time.Second)
	e.fail(t, a, 2) // a new window: 2 of 3
	status, _ := e.check(a, guardToken)
	assert.Zero(t, status, "a success is never refused before the lockout")
	e.fail(t, a, 1) // the third in this window: locked out
	status, h := e.check(a, guardToken)
	assert.Equal(t, http.StatusTooManyRequests, status)
	assert.Equal(t, "5", h.Get("Retry-After"))
}

func TestSuccessesDoNotResetTheCount(t *testing.T) {
	e := newGuardEnv(t, Limits{MaxFailures: 3})
	const a = "192.0.2.1:1000"
	for range 2 {
		e.fail(t, a, 1)
		status, _ := e.check(a, guardToken)
		require.Zero(t, status)
	}
	e.fail(t, a, 1)
	status, _ := e.check(a, guardToken)
	assert.Equal(t, http.StatusTooManyRequests, status,
		"a client with the token at a shared address does not give a guesser there more tries")
}

func TestNegativeMaxFailuresNeverLocksOut(t *testing.T) {
	e := newGuardEnv(t, Limits{MaxFailures: -1})
	e.fail(t, "192.0.2.1:1000", 100)
	status, _ := e.check("192.0.2.1:1000", guardToken)
	assert.Zero(t, status)
}

func TestIPv6CountsPerSlash64(t *testing.T) {
	e := newGuardEnv(t, Limits{MaxFailures: 2})
	e.fail(t, "[2001:db8:1:2::1]:1000", 1)
	e.fail(t, "[2001:db8:1:2:ffff::9]:1000", 1)
	status, _ := e.check("[2001:db8:1:2::77]:5", guardToken)
	assert.Equal(t, http.StatusTooManyRequests, status, "one /64, one count")
	status, _ = e.check("[2001:db8:1:3::1]:5", guardToken)
	assert.Zero(t, status, "another /64")
	status, _ = e.check("[::ffff:192.0.2.9]:5", guardToken)
	assert.Zero(t, status, "IPv4-mapped addresses count as IPv4")
}

// TestTrackedAddressesAreBounded: past MaxClients, the address that
// failed least recently is forgotten, lockout included; memory stays
// bounded whatever the number of addresses.
func TestTrackedAddressesAreBounded(t *testing.T) {
	e := newGuardEnv(t, Limits{MaxFailures: 1, MaxClients: 3})
	for i := range 4 {
		e.fail(t, fmt.Sprintf("192.0.2.%d:1000", i), 1)
	}
	assert.Equal(t, 3, e.g.clients.len())
	status, _ := e.check("192.0.2.0:1000", guardToken)
	assert.Zero(t, status, "the oldest was forgotten")
	for i := 1; i < 4; i++ {
		status, _ := e.check(fmt.Sprintf("192.0.2.%d:1000", i), guardToken)
		assert.Equal(t, http.StatusTooManyRequests, status, "192.0.2.%d is still locked out", i)
	}
	for i := range 1000 {
		e.fail(t, fmt.Sprintf("10.0.%d.%d:1", i/256, i%256), 1)
	}
	assert.Equal(t, 3, e.g.clients.len())
}

// TestRefusalsAreRateLimitedInTheLog: a 401 storm logs LogBurst lines per
// window, then one summary with the count; the token presented is never
// logged.
func TestRefusalsAreRateLimitedInTheLog(t *testing.T) {
	e := newGuardEnv(t, Limits{MaxFailures: 10, LogBurst: 3})
	for i := range 50 {
		e.check(fmt.Sprintf("192.0.2.%d:1000", i), "wrong-token-presented")
	}
	assert.Equal(t, 3, e.logs.Count(`"message":"test API: authentication failed"`))
	assert.Zero(t, e.logs.Count("not logged"), "no summary before the window ends")

	e.clock.Advance(DefaultWindow)
	e.check("192.0.2.1:1000", "wrong-token-presented")
	assert.Equal(t, 1, e.logs.Count(`"suppressed":47,"window":60000,"message":"test API: more refused authentications not logged"`), e.logs.String())
	assert.Equal(t, 4, e.logs.Count("authentication failed"), "the new window logs again")
	assert.NotContains(t, e.logs.String(), "wrong-token-presented")
	assert.NotContains(t, e.logs.String(), guardToken)
}

func TestLockoutsAreLogged(t *testing.T) {
	e := newGuardEnv(t, Limits{MaxFailures: 2, LogBurst: 1})
	for i := range 3 {
		e.fail(t, fmt.Sprintf("192.0.2.%d:1000", i), 2)
	}
	e.check("192.0.2.0:1000", guardToken)
	logs := e.logs.String()
	assert.Equal(t, 1, strings.Count(logs, "address locked out"), logs)
	assert.Contains(t, logs, `"remote_addr":"192.0.2.0:1000","failures":2,"lockout":60000`)
	e.g.Stop()
	logs = e.logs.String()
	assert.Contains(t, logs, `"suppressed":2,"window":60000,"message":"test API: more lockouts not logged"`)
	assert.Contains(t, logs, `"suppressed":6,"window":60000,"message":"test API: more refused authentications not logged"`,
		"five more 401s and the 429")
}
