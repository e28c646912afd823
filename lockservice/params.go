package lockservice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxNameLen is the longest lock name, in bytes.
const MaxNameLen = 200

// maxTokenLen bounds a lease token as a parameter; package lock's are 26
// characters.
const maxTokenLen = 128

// requestError is a request the service refuses before it reaches the
// Locker: a status (400, 413, 415), a message and, for a bad parameter,
// the parameter's name.
type requestError struct {
	status int
	param  string
	msg    string
}

func (e *requestError) Error() string { return e.msg }

// badParam is the 400 for the parameter param.
func badParam(param, format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, param: param, msg: fmt.Sprintf(format, args...)}
}

// checkName returns a 400 unless name is a valid lock name (see the
// package doc).
func checkName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return badParam("name", "name must be 1 to %d characters", MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return badParam("name", "name may contain only A-Z a-z 0-9 . _ : / -")
		}
	}
	for seg := range strings.SplitSeq(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return badParam("name", `name must not have an empty, "." or ".." segment between slashes`)
		}
	}
	return nil
}

// nameByte reports whether c may appear in a lock name.
func nameByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("._:/-", c) >= 0
}

// readParams returns r's parameters, from its query string and its body,
// refusing any not in allowed and any given more than once.
func readParams(r *http.Request, allowed ...string) (map[string]string, error) {
	params := make(map[string]string)
	add := func(k, v string) error {
		if !slices.Contains(allowed, k) {
			return badParam(k, "unknown parameter %q (this endpoint takes %s)", k, strings.Join(allowed, ", "))
		}
		if _, dup := params[k]; dup {
			return badParam(k, "%s given more than once", k)
		}
		params[k] = v
		return nil
	}
	for k, vs := range r.URL.Query() {
		for _, v := range vs {
			if err := add(k, v); err != nil {
				return nil, err
			}
		}
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	for _, kv := range body {
		if err := add(kv[0], kv[1]); err != nil {
			return nil, err
		}
	}
	return params, nil
}

// readBody returns the key/value pairs of r's body: none if it is empty,
// those of a form or of a JSON object otherwise.
func readBody(r *http.Request) ([][2]string, error) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, &requestError{status: http.StatusRequestEntityTooLarge, msg: "request body too large"}
		}
		return nil, &requestError{status: http.StatusBadRequest, msg: "reading the request body failed"}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch mt {
	case "application/x-www-form-urlencoded":
		form, err := url.ParseQuery(string(b))
		if err != nil {
			return nil, &requestError{status: http.StatusBadRequest, msg: "the form body is malformed"}
		}
		var kvs [][2]string
		for k, vs := range form {
			for _, v := range vs {
				kvs = append(kvs, [2]string{k, v})
			}
		}
		return kvs, nil
	case "application/json":
		return jsonBody(b)
	}
	return nil, &requestError{status: http.StatusUnsupportedMediaType,
		msg: "the body must be application/x-www-form-urlencoded or application/json"}
}

// jsonBody returns the fields of the JSON object b, each a string or a
// number.
func jsonBody(b []byte) ([][2]string, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil || dec.More() {
		return nil, &requestError{status: http.StatusBadRequest, msg: "the JSON body must be one object"}
	}
	var kvs [][2]string
	for k, v := range obj {
		switch v := v.(type) {
		case string:
			kvs = append(kvs, [2]string{k, v})
		case json.Number:
			kvs = append(kvs, [2]string{k, v.String()})
		default:
			return nil, badParam(k, "%s must be a string or a number", k)
		}
	}
	return kvs, nil
}

// duration returns the duration parameter param, checked to lie within
// [least, most]; if it is absent, an error when it is required and 0
// otherwise.
func duration(params map[string]string, param string, required bool, least, most time.Duration) (time.Duration, error) {
	s, ok := params[param]
	if !ok {
		if required {
			return 0, badParam(param, "%s is required", param)
		}
		return 0, nil
	}
	d, ok := parseDuration(s)
	switch {
	case !ok:
		return 0, badParam(param, `%s must be a duration with a unit ("30s", "1500ms") or whole milliseconds ("1500")`, param)
	case d < least:
		return 0, badParam(param, "%s must be at least %v", param, least)
	case d > most:
		return 0, badParam(param, "%s %v is above the maximum %v", param, d, most)
	}
	return d, nil
}

// parseDuration parses a Go duration with a unit or, if s is all digits,
// whole milliseconds.
func parseDuration(s string) (time.Duration, bool) {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil || ms > math.MaxInt64/int64(time.Millisecond) {
			return 0, false
		}
		return time.Duration(ms) * time.Millisecond, true
	}
	d, err := time.ParseDuration(s)
	return d, err == nil
}

// leaseToken returns the token parameter, which must be present and
// plausible (printable ASCII, at most maxTokenLen bytes). Its value is
// never put in an error.
func leaseToken(params map[string]string) (string, error) {
	tok, ok := params["token"]
	switch {
	case !ok || tok == "":
		return "", badParam("token", "token is required")
	case len(tok) > maxTokenLen:
		return "", badParam("token", "token is longer than %d bytes", maxTokenLen)
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] > '~' {
			return "", badParam("token", "token must be printable ASCII")
		}
	}
	return tok, nil
}
