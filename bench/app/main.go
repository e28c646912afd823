// Command app is the app server behind the load comparison in bench/: the
// smallest thing that speaks the Sidecar protocol (docs/protocol.md).
//
//	GET /read     a ~1 KiB HTML page; no session directives
//	GET /write    the same page plus X-Sidecar-Patch: {"counter":N}, N
//	              counting up across all requests to this process
//	GET /login    the same page plus a patch of realistic attributes
//	              (user, roles, cart: ~300 bytes of session data), the
//	              principal, and X-Sidecar-Action: regenerate
//	GET /login?size=N  the same login with one attribute instead, "blob",
//	              a string of x's that makes the session N bytes as
//	              Sidecar counts them (16 to 65536; bench/run.sh logs in
//	              with 100 and 4096)
//	GET /session  the verified claims of the X-Sidecar-Session JWT as JSON
//	              (needs -header-secret); the load script reads "ver" and
//	              data.counter here to check that writes were saved
//
// /read, /write and /login do not verify the JWT, so the app does the same
// work behind Sidecar as behind the bare proxy and the comparison measures
// the proxy alone. A real app must verify it (protocol section 2).
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "address to listen on")
	secret := flag.String("header-secret", "", "HS256 key of X-Sidecar-Session, for /session only")
	flag.Parse()

	a := &app{secret: []byte(*secret)}
	srv := &http.Server{
		Addr:              *listen,
		Handler:           a,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
	}
	log.Printf("app listening on %s", *listen)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		os.Exit(1)
	}
}

type app struct {
	counter atomic.Int64
	secret  []byte
}

// page is the ~1 KiB HTML body every page route returns.
var page = func() []byte {
	var b bytes.Buffer
	b.WriteString("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Sidecar bench</title></head>\n<body>\n<h1>Sidecar bench</h1>\n")
	for i := 0; b.Len() < 1000; i++ {
		fmt.Fprintf(&b, "<p>Line %02d of a page about the size of a small fragment.</p>\n", i)
	}
	b.WriteString("</body></html>\n")
	return b.Bytes()
}()

// loginPatch is a realistic session after login: ~300 bytes as Sidecar
// counts them (name lengths plus compact JSON values).
const loginPatch = `{"user":{"id":48151,"name":"alice","email":"alice@example.com"},` +
	`"roles":["customer","beta-tester","newsletter"],` +
	`"cart":{"currency":"EUR","items":[{"sku":"BK-1024","qty":1,"price":1999},{"sku":"MG-0042","qty":2,"price":850}]},` +
	`"locale":"en-GB","csrf":"8c1f0f4e2b9d4a7e9b3c6d1a5f2e7b40","last_login":1767225600}`

// Sized logins: the bounds of /login?size=N, and the attribute's name.
const (
	blobName    = "blob"
	minBlobSize = 16
	maxBlobSize = 64 << 10
)

// loginPatchOf is the patch of /login: loginPatch without a size, else
// one "blob" attribute that makes the session size bytes as Sidecar
// counts them (the name's length plus the compact JSON value's: two
// quotes around the x's).
func loginPatchOf(size string) (string, error) {
	if size == "" {
		return loginPatch, nil
	}
	n, err := strconv.Atoi(size)
	if err != nil || n < minBlobSize || n > maxBlobSize {
		return "", fmt.Errorf("size must be a number of bytes from %d to %d, got %q", minBlobSize, maxBlobSize, size)
	}
	return `{"` + blobName + `":"` + strings.Repeat("x", n-len(blobName)-2) + `"}`, nil
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	switch r.URL.Path {
	case "/read":
	case "/write":
		n := a.counter.Add(1)
		h["X-Sidecar-Patch"] = []string{`{"counter":` + strconv.FormatInt(n, 10) + `}`}
	case "/login":
		patch, err := loginPatchOf(r.URL.Query().Get("size"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h["X-Sidecar-Patch"] = []string{patch}
		h["X-Sidecar-Principal"] = []string{"alice"}
		h["X-Sidecar-Action"] = []string{"regenerate"}
	case "/session":
		a.session(w, r)
		return
	default:
		http.NotFound(w, r)
		return
	}
	h["Content-Type"] = []string{"text/html; charset=utf-8"}
	_, _ = w.Write(page)
}

// session writes the verified JWT claims, or 400/500 naming the problem.
func (a *app) session(w http.ResponseWriter, r *http.Request) {
	if len(a.secret) == 0 {
		http.Error(w, "/session needs -header-secret", http.StatusInternalServerError)
		return
	}
	claims, err := verifyHS256(r.Header.Get("X-Sidecar-Session"), a.secret)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(claims)
	_, _ = w.Write([]byte("\n"))
}

// verifyHS256 checks a compact JWS signed with HS256 under secret and
// returns its payload (the JSON claims). Only the signature and algorithm
// are checked: this is a debugging endpoint, not an example of checking
// exp, iss and aud, which a real app must also do.
func verifyHS256(tok string, secret []byte) ([]byte, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("session header: not a compact JWS")
	}
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("session header: decoding header: %w", err)
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if err := json.Unmarshal(hdr, &h); err != nil || h.Alg != "HS256" {
		return nil, fmt.Errorf("session header: alg %q is not HS256", h.Alg)
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("session header: decoding signature: %w", err)
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return nil, errors.New("session header: bad signature")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("session header: decoding payload: %w", err)
	}
	return payload, nil
}
