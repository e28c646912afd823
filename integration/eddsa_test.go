package integration

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// EdDSA end to end (issue 12): Sidecar signs the session header with an
// Ed25519 key from a PEM file and publishes the public keys as a JWKS on
// its ops listener; a PHP app (php -S) and a Python app (wsgiref), each
// through its kit, verify sessions with nothing but that JWKS URL
// (testdata/eddsa). A key rotation (the new key first, the old one kept,
// SIGHUP) keeps every session valid: one held in the app across it, the
// new ones (signed by the new key, which the apps refetch the JWKS for),
// and every request of a burst around it.

// eddsaView is what the test apps answer: the verified session, or the
// reason the kit refused it.
type eddsaView struct {
	Server string         `json:"server"`
	KID    string         `json:"kid"`
	Sub    string         `json:"sub"`
	Data   map[string]any `json:"data"`
	Reason string         `json:"reason"`
}

// eddsaApp is one test app process and its files.
type eddsaApp struct {
	name, addr string
	fetchLog   string // a line per JWKS fetch
	p          *proc
}

// fetches is the number of times the app fetched the JWKS.
func (a *eddsaApp) fetches(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(a.fetchLog)
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(t, err)
	return strings.Count(string(b), "\n")
}

// startEdDSAApp starts the test app of lang ("php" or "python") with only
// jwksURL to verify with; gates is the directory of /hold's gate files.
func startEdDSAApp(t *testing.T, lang, jwksURL, gates string) *eddsaApp {
	t.Helper()
	dir := t.TempDir()
	a := &eddsaApp{name: lang, addr: freeAddr(t), fetchLog: filepath.Join(dir, "fetches")}
	_, port, _ := net.SplitHostPort(a.addr)
	env := []string{"APP_NAME=" + lang, "APP_PORT=" + port, "APP_GATES=" + gates, "APP_FETCH_LOG=" + a.fetchLog,
		"APP_JWKS_CACHE=" + filepath.Join(dir, "jwks.json"), "SIDECAR_JWKS_URL=" + jwksURL}
	switch lang {
	case "php":
		a.p = startProcGroup(t, "php app", append(env, "PHP_CLI_SERVER_WORKERS=8"),
			phpBinary(t), "-S", a.addr, "-t", "testdata/eddsa", "testdata/eddsa/app.php")
	case "python":
		a.p = startProc(t, "python app", env, findBinary(t, "python3", "python3"), "testdata/eddsa/app.py")
	}
	waitListening(t, a.p, a.addr)
	return a
}

// ed25519Key makes an Ed25519 key, writes its private half as a PKCS#8
// PEM file in dir, and returns the file and the public key as a JWK's x.
func ed25519Key(t *testing.T, dir, name string) (file, x string) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	file = filepath.Join(dir, name+".pem")
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600))
	return file, base64.RawURLEncoding.EncodeToString(pub)
}

// jwk is one key of Sidecar's JWKS document.
type jwk struct {
	KTY string `json:"kty"`
	CRV string `json:"crv"`
	X   string `json:"x"`
	KID string `json:"kid"`
	Alg string `json:"alg"`
	Use string `json:"use"`
}

// fetchJWKS gets the JWKS document from url.
func fetchJWKS(t *testing.T, url string) []jwk {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", url)
	var doc struct {
		Keys []jwk `json:"keys"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&doc))
	return doc.Keys
}

// TestEdDSAEndToEnd: see the top of this file.
func TestEdDSAEndToEnd(t *testing.T) {
	dir, gates := t.TempDir(), t.TempDir()
	k1, x1 := ed25519Key(t, dir, "k1")
	k2, x2 := ed25519Key(t, dir, "k2")
	opsAddr := freeAddr(t)
	jwksURL := "http://" + opsAddr + "/.well-known/jwks.json"
	apps := map[string]*eddsaApp{"php": startEdDSAApp(t, "php", jwksURL, gates), "python": startEdDSAApp(t, "python", jwksURL, gates)}
	spec := sidecarSpec{
		Upstreams: []upstreamSpec{{Name: "php", URL: "http://" + apps["php"].addr}, {Name: "python", URL: "http://" + apps["python"].addr}},
		Set: map[string]any{"headers.secret": nil, // no HS256 secret anywhere
			"headers.algorithm": "EdDSA", "headers.key_files": []string{k1}, "ops.listen": opsAddr},
	}
	sc := startSidecarProc(t, spec)
	spec.Listen = sc.addr // the reload keeps the address

	keys := fetchJWKS(t, jwksURL)
	require.Len(t, keys, 1, "one key published: %+v", keys)
	assert.Equal(t, jwk{KTY: "OKP", CRV: "Ed25519", X: x1, KID: keys[0].KID, Alg: "EdDSA", Use: "sig"}, keys[0])
	kid1 := keys[0].KID
	require.NotEmpty(t, kid1)

	// A login, then reads on both apps: each verifies with the JWKS alone.
	user := &client{t: t}
	var rotated atomic.Bool
	whoami := func(c *client, path string) (eddsaView, error) {
		r, err := c.try(sc.URL(), path, nil)
		if err != nil {
			return eddsaView{}, err
		}
		var v eddsaView
		if err := json.Unmarshal([]byte(r.Body), &v); err != nil || r.Status != http.StatusOK {
			return v, fmt.Errorf("%s (rotated: %v)", r, rotated.Load())
		}
		return v, nil
	}
	v, err := whoami(user, "/login?user=zo%C3%AB")
	require.NoError(t, err)
	require.NotEmpty(t, user.cookie, "the login set a cookie")
	for range apps {
		v, err = whoami(user, "/whoami")
		require.NoError(t, err)
		assert.Equal(t, eddsaView{Server: v.Server, KID: kid1, Sub: "zoë", Data: map[string]any{"user": "zoë"}}, v)
	}
	for name, a := range apps {
		assert.Equal(t, 1, a.fetches(t), "%s fetched the JWKS once and cached it", name)
	}

	// A burst of readers runs from before the rotation until after it.
	var burst sync.WaitGroup
	stop := make(chan struct{})
	var ok, failed, kid1Seen, kid2Seen atomic.Int64
	failures := make(chan error, 64)
	report := func(err error) {
		failed.Add(1)
		select {
		case failures <- err:
		default: // counted; the first 64 are enough to read
		}
	}
	const readers = 4
	for i := 0; i < readers; i++ {
		burst.Add(1)
		go func() { // exits when stop is closed
			defer burst.Done()
			c := &client{t: t, cookie: user.cookie}
			for {
				select {
				case <-stop:
					return
				default:
				}
				v, err := whoami(c, "/whoami")
				switch {
				case err != nil:
					report(err)
				case v.Sub != "zoë":
					report(fmt.Errorf("%s answered sub %q", v.Server, v.Sub))
				default:
					ok.Add(1)
					if v.KID == kid1 {
						kid1Seen.Add(1)
					} else {
						kid2Seen.Add(1)
					}
				}
			}
		}()
	}
	stopBurst := sync.OnceFunc(func() { close(stop); burst.Wait() })
	t.Cleanup(stopBurst)
	waitUntil(t, "20 requests of the burst before the rotation", func() (bool, string) {
		return ok.Load()+failed.Load() >= 20, fmt.Sprintf("%d ok, %d failed", ok.Load(), failed.Load())
	})

	// Requests held in each app with a token signed by k1, verified only
	// after the rotation.
	type held struct {
		gate string
		done chan eddsaView
	}
	var holds []held
	holdOn := map[string]bool{}
	for i := 0; len(holdOn) < len(apps); i++ {
		require.Less(t, i, 8, "holds landed only on %v", holdOn)
		h := held{gate: fmt.Sprintf("hold-%d", i), done: make(chan eddsaView, 1)}
		go func() { // exits when the held request is answered
			v, err := whoami(&client{t: t, cookie: user.cookie}, "/hold?gate="+h.gate)
			if err != nil {
				v.Reason = err.Error()
			}
			h.done <- v
		}()
		var server []byte
		waitUntil(t, h.gate+" held in an app", func() (bool, string) {
			server, err = os.ReadFile(filepath.Join(gates, h.gate+".arrived"))
			return err == nil && len(server) > 0, fmt.Sprint(err)
		})
		holdOn[string(server)] = true
		holds = append(holds, h)
	}

	// The rotation: k2 signs, k1 is still published.
	before := map[string]int{}
	for name, a := range apps {
		before[name] = a.fetches(t)
	}
	spec.Set["headers.key_files"] = []string{k2, k1}
	require.True(t, sc.reload(spec.yaml(t)), "the rotation was refused\n%s", sc.p.dump())
	rotated.Store(true)
	keys = fetchJWKS(t, jwksURL)
	require.Len(t, keys, 2, "both keys published: %+v", keys)
	assert.Equal(t, x2, keys[0].X, "the new key first")
	assert.Equal(t, jwk{KTY: "OKP", CRV: "Ed25519", X: x1, KID: kid1, Alg: "EdDSA", Use: "sig"}, keys[1], "the old key kept")
	kid2 := keys[0].KID
	require.NotEqual(t, kid1, kid2)

	// New requests carry kid2; the apps, whose cached JWKS lacks it, fetch
	// it again and accept them.
	served := map[string]bool{}
	waitUntil(t, "both apps verifying kid2", func() (bool, string) {
		v, err := whoami(user, "/whoami")
		require.NoError(t, err)
		require.Equal(t, kid2, v.KID, "a request after the rotation is signed by the new key")
		served[v.Server] = true
		return len(served) == len(apps), fmt.Sprint(served)
	})
	for name, a := range apps {
		n := a.fetches(t)
		t.Logf("%s fetched the JWKS %d times before the rotation, %d after", name, before[name], n-before[name])
		assert.Greater(t, n, before[name], "%s refetched the JWKS for the new kid", name)
		// At most once per request in flight when the new kid first came
		// (php -S workers share the kit's cache file, not a lock).
		assert.LessOrEqual(t, n, before[name]+readers+1, "%s refetched once or so, not on every request", name)
	}

	// The held requests, signed by k1 before the rotation, verify now.
	for _, h := range holds {
		require.NoError(t, os.WriteFile(filepath.Join(gates, h.gate+".release"), nil, 0o600))
	}
	for _, h := range holds {
		v := receive(t, h.done, "the answer to "+h.gate)
		assert.Empty(t, v.Reason, "%s", h.gate)
		assert.Equal(t, kid1, v.KID, "%s was signed by the old key", h.gate)
		assert.Equal(t, "zoë", v.Sub, "%s", h.gate)
	}

	waitUntil(t, "20 requests of the burst with the new key", func() (bool, string) {
		return kid2Seen.Load() >= 20, fmt.Sprintf("%d with kid2", kid2Seen.Load())
	})
	stopBurst()
	t.Logf("burst around the rotation: %d requests, %d failed; %d signed by k1, %d by k2", ok.Load()+failed.Load(), failed.Load(), kid1Seen.Load(), kid2Seen.Load())
	assert.Zero(t, failed.Load(), "no request of the burst failed")
	close(failures)
	for err := range failures {
		t.Errorf("burst: %v", err)
	}
	assert.Positive(t, kid1Seen.Load())
}
