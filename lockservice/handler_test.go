package lockservice_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/httpauth"
	"github.com/sidecarproxy/sidecar/internal/clocktest"
	"github.com/sidecarproxy/sidecar/lock"
	"github.com/sidecarproxy/sidecar/lockservice"
)

func TestNewValidatesOptions(t *testing.T) {
	locker := lock.NewLocal(lock.Options{})
	for name, tc := range map[string]struct {
		opts lockservice.Options
		want string
	}{
		"no locker":        {lockservice.Options{Token: []byte(token)}, "Locker"},
		"no token":         {lockservice.Options{Locker: locker}, "Token"},
		"negative MaxTTL":  {lockservice.Options{Locker: locker, Token: []byte(token), MaxTTL: -time.Second}, "MaxTTL"},
		"tiny MaxTTL":      {lockservice.Options{Locker: locker, Token: []byte(token), MaxTTL: time.Microsecond}, "MaxTTL"},
		"negative MaxWait": {lockservice.Options{Locker: locker, Token: []byte(token), MaxWait: -time.Second}, "MaxWait"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := lockservice.New(tc.opts)
			assert.ErrorContains(t, err, tc.want)
		})
	}
	_, err := lockservice.New(lockservice.Options{Locker: locker, Token: []byte(token)})
	assert.NoError(t, err, "zero limits take their defaults")
}

func TestAuth(t *testing.T) {
	e := newLocal(t, clocktest.New())
	for name, tc := range map[string]struct {
		auth   string
		status int
	}{
		"none":              {"", http.StatusUnauthorized},
		"wrong token":       {"Bearer not-the-token", http.StatusUnauthorized},
		"token prefix":      {"Bearer " + token[:len(token)-1], http.StatusUnauthorized},
		"empty token":       {"Bearer ", http.StatusUnauthorized},
		"wrong scheme":      {"Basic " + token, http.StatusUnauthorized},
		"no scheme":         {token, http.StatusUnauthorized},
		"right":             {auth, http.StatusOK},
		"scheme lower case": {"bearer " + token, http.StatusOK},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := e.do(t, nil, request{method: http.MethodGet, path: "/locks/stats", auth: tc.auth})
			assert.Equal(t, tc.status, resp.StatusCode, "%s", body)
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			if tc.status == http.StatusUnauthorized {
				assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"))
				assert.JSONEq(t, `{"error":"unauthorized"}`, string(body))
			}
		})
	}
	logs := e.logs.String()
	assert.Contains(t, logs, "authentication failed")
	assert.Contains(t, logs, "127.0.0.1")
	assert.NotContains(t, logs, "not-the-token")
	assert.NotContains(t, logs, token[:len(token)-1], "the presented token is never logged")
}

func TestAuthGuardsEveryEndpoint(t *testing.T) {
	e := newLocal(t, clocktest.New())
	for _, tc := range []struct{ method, path string }{
		{http.MethodPost, "/locks/x/acquire?ttl=1m"},
		{http.MethodPost, "/locks/x/extend?ttl=1m&token=T"},
		{http.MethodPost, "/locks/x/release?token=T"},
		{http.MethodGet, "/locks/stats"},
		{http.MethodGet, "/nowhere"},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			resp, _ := e.do(t, nil, request{method: tc.method, path: tc.path, auth: "Bearer wrong"})
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
		})
	}
	assert.Zero(t, e.locker.Stats().Acquired, "an unauthenticated acquire took nothing")
}

func TestBadRequests(t *testing.T) {
	e := newLocal(t, clocktest.New())
	post := func(path string) request { return request{method: http.MethodPost, path: path, auth: auth} }
	withBody := func(path, ct, body string) request {
		return request{method: http.MethodPost, path: path, auth: auth, contentType: ct, body: body}
	}
	const form, js = "application/x-www-form-urlencoded", "application/json"
	for name, tc := range map[string]struct {
		rq     request
		status int
		param  string // expected ErrorResponse.Param
		allow  string
	}{
		"empty name":         {post("/locks//acquire?ttl=1s"), 400, "name", ""},
		"name too long":      {post("/locks/" + strings.Repeat("n", lockservice.MaxNameLen+1) + "/acquire?ttl=1s"), 400, "name", ""},
		"name with space":    {post("/locks/a%20b/acquire?ttl=1s"), 400, "name", ""},
		"name with star":     {post("/locks/a*b/acquire?ttl=1s"), 400, "name", ""},
		"name empty segment": {post("/locks/a//b/acquire?ttl=1s"), 400, "name", ""},
		"name dot segment":   {post("/locks/a/./b/acquire?ttl=1s"), 400, "name", ""},
		"name dotdot":        {post("/locks/../acquire?ttl=1s"), 400, "name", ""},
		"name trailing /":    {post("/locks/a%2F/acquire?ttl=1s"), 400, "name", ""},
		"ttl missing":        {post("/locks/a/acquire"), 400, "ttl", ""},
		"ttl no unit float":  {post("/locks/a/acquire?ttl=1.5"), 400, "ttl", ""},
		"ttl garbage":        {post("/locks/a/acquire?ttl=soon"), 400, "ttl", ""},
		"ttl zero":           {post("/locks/a/acquire?ttl=0"), 400, "ttl", ""},
		"ttl negative":       {post("/locks/a/acquire?ttl=-1s"), 400, "ttl", ""},
		"ttl below 1ms":      {post("/locks/a/acquire?ttl=500us"), 400, "ttl", ""},
		"ttl above max":      {post("/locks/a/acquire?ttl=6m"), 400, "ttl", ""},
		"ttl ms above max":   {post("/locks/a/acquire?ttl=300001"), 400, "ttl", ""},
		"ttl ms overflow":    {post("/locks/a/acquire?ttl=99999999999999999999"), 400, "ttl", ""},
		"ttl twice":          {post("/locks/a/acquire?ttl=1s&ttl=2s"), 400, "ttl", ""},
		"ttl query and body": {withBody("/locks/a/acquire?ttl=1s", form, "ttl=2s"), 400, "ttl", ""},
		"wait negative":      {post("/locks/a/acquire?ttl=1s&wait=-1s"), 400, "wait", ""},
		"wait above max":     {post("/locks/a/acquire?ttl=1s&wait=31s"), 400, "wait", ""},
		"unknown param":      {post("/locks/a/acquire?ttl=1s&wiat=5s"), 400, "wiat", ""},
		"wait on extend":     {post("/locks/a/extend?ttl=1s&token=T&wait=1s"), 400, "wait", ""},
		"extend no token":    {post("/locks/a/extend?ttl=1s"), 400, "token", ""},
		"extend no ttl":      {post("/locks/a/extend?token=T"), 400, "ttl", ""},
		"release no token":   {post("/locks/a/release"), 400, "token", ""},
		"release long token": {post("/locks/a/release?token=" + strings.Repeat("T", 129)), 400, "token", ""},
		"token with space":   {post("/locks/a/release?token=a%20b"), 400, "token", ""},
		"form malformed":     {withBody("/locks/a/acquire", form, "ttl=%zz"), 400, "", ""},
		"json not object":    {withBody("/locks/a/acquire", js, `["ttl"]`), 400, "", ""},
		"json two objects":   {withBody("/locks/a/acquire", js, `{"ttl":"1s"}{}`), 400, "", ""},
		"json bool":          {withBody("/locks/a/acquire", js, `{"ttl":true}`), 400, "ttl", ""},
		"json fraction ms":   {withBody("/locks/a/acquire", js, `{"ttl":1.5}`), 400, "ttl", ""},
		"json unknown field": {withBody("/locks/a/acquire", js, `{"ttl":"1s","tll":"1s"}`), 400, "tll", ""},
		"text body":          {withBody("/locks/a/acquire?ttl=1s", "text/plain", "hello"), 415, "", ""},
		"body too large":     {withBody("/locks/a/acquire?ttl=1s", form, strings.Repeat("x", lockservice.MaxBodyBytes+1)), 413, "", ""},
		"acquire by GET":     {request{method: http.MethodGet, path: "/locks/a/acquire?ttl=1s", auth: auth}, 405, "", "POST"},
		"stats by POST":      {post("/locks/stats"), 405, "", "GET, HEAD"},
		"unknown action":     {post("/locks/a/steal"), 404, "", ""},
		"no action":          {post("/locks/a"), 404, "", ""},
		"unknown path":       {post("/upstreams"), 404, "", ""},
	} {
		t.Run(name, func(t *testing.T) {
			resp, body := e.do(t, nil, tc.rq)
			assert.Equal(t, tc.status, resp.StatusCode, "%s", body)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))
			assert.Equal(t, tc.allow, resp.Header.Get("Allow"))
			var er lockservice.ErrorResponse
			require.NoError(t, json.Unmarshal(body, &er), "%s", body)
			assert.NotEmpty(t, er.Error)
			assert.Equal(t, tc.param, er.Param, er.Error)
			if tc.param != "" {
				assert.Contains(t, er.Error, tc.param, "the message names the parameter")
			}
			if tc.param == "name" {
				assert.Empty(t, er.Name, "an invalid name is not echoed")
			}
		})
	}
	assert.Zero(t, e.locker.Stats().Acquired, "no bad request took a lock")
}

func TestParameterSources(t *testing.T) {
	e := newLocal(t, clocktest.New())
	for name, tc := range map[string]struct {
		rq    request
		ttlMS int64
	}{
		"query duration": {request{path: "/locks/q/acquire?ttl=1m30s&wait=0s"}, 90_000},
		"query millis":   {request{path: "/locks/qm/acquire?ttl=1500&wait=0"}, 1500},
		"form body": {request{path: "/locks/f/acquire", contentType: "application/x-www-form-urlencoded",
			body: "ttl=45s&wait=10ms"}, 45_000},
		"form body charset": {request{path: "/locks/fc/acquire", contentType: "application/x-www-form-urlencoded; charset=utf-8",
			body: "ttl=2s"}, 2000},
		"json strings": {request{path: "/locks/js/acquire", contentType: "application/json",
			body: `{"ttl":"20s","wait":"1s"}`}, 20_000},
		"json numbers": {request{path: "/locks/jn/acquire", contentType: "application/json",
			body: `{"ttl":2500,"wait":0}`}, 2500},
		"query and body split": {request{path: "/locks/split/acquire?wait=0", contentType: "application/json",
			body: `{"ttl":"3s"}`}, 3000},
		"empty body any type": {request{path: "/locks/e/acquire?ttl=4s", contentType: "text/plain"}, 4000},
		"slash in name":       {request{path: "/locks/app/report:daily/acquire?ttl=5s"}, 5000},
		"escaped slash":       {request{path: "/locks/esc%2Fname/acquire?ttl=5s"}, 5000},
	} {
		t.Run(name, func(t *testing.T) {
			tc.rq.method, tc.rq.auth = http.MethodPost, auth
			resp, body := e.do(t, nil, tc.rq)
			require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
			var l lockservice.Lease
			require.NoError(t, json.Unmarshal(body, &l))
			// The in-process Locker's validity is the whole ttl on its
			// clock, which stands still here.
			assert.Equal(t, tc.ttlMS, l.TTLMillis)
		})
	}
	t.Run("escaped slash is the same lock", func(t *testing.T) {
		status, _, er := e.acquire(t, nil, "esc/name", "ttl=1s")
		assert.Equal(t, http.StatusConflict, status)
		assert.Equal(t, "esc/name", er.Name)
	})
}

// TestAuthLockout: after AuthLimits.MaxFailures wrong tokens the address
// gets 429 with Retry-After, the right token included, until the lockout
// ends.
func TestAuthLockout(t *testing.T) {
	clock := clocktest.New()
	e := serve(t, lock.NewLocal(lock.Options{Clock: clock.Now}), lockservice.Options{
		AuthLimits: httpauth.Limits{MaxFailures: 3, Clock: clock.Now}})
	for range 3 {
		resp, _ := e.do(t, nil, request{method: http.MethodGet, path: "/locks/stats", auth: "Bearer wrong"})
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	}
	resp, body := e.do(t, nil, request{method: http.MethodPost, path: "/locks/x/acquire?ttl=1m", auth: auth})
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "60", resp.Header.Get("Retry-After"))
	assert.JSONEq(t, `{"error":"too many requests"}`, string(body))
	assert.Zero(t, e.locker.Stats().Acquired, "a locked-out address takes nothing")

	clock.Advance(httpauth.DefaultLockout)
	resp, _ = e.do(t, nil, request{method: http.MethodPost, path: "/locks/x/acquire?ttl=1m", auth: auth})
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}
