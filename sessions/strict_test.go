package sessions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// strictJSON reads b the way the strictest of the apps' JSON decoders
// would, and independently of checkPatch: valid JSON and valid UTF-8, no
// escaped lone surrogate, no member name starting with U+0000 (PHP), and
// objects and arrays nested at most maxDepth deep. The fuzz targets hold
// what Sidecar accepts and what it puts in the JWT to it.
func strictJSON(b []byte, maxDepth int) error {
	if !json.Valid(b) {
		return errors.New("invalid JSON")
	}
	if !utf8.Valid(b) {
		return errors.New("invalid UTF-8")
	}
	// A backslash occurs only inside strings in valid JSON, so the escapes
	// can be walked without tracking strings.
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if b[i+1] != 'u' {
			i++
			continue
		}
		r, _ := strconv.ParseUint(string(b[i+2:i+6]), 16, 32)
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return fmt.Errorf("lone low surrogate at %d", i)
		case r >= 0xD800 && r <= 0xDBFF:
			if len(b) < i+12 || string(b[i+6:i+8]) != `\u` {
				return fmt.Errorf("lone high surrogate at %d", i)
			}
			lo, _ := strconv.ParseUint(string(b[i+8:i+12]), 16, 32)
			if lo < 0xDC00 || lo > 0xDFFF {
				return fmt.Errorf("high surrogate without a low one at %d", i)
			}
			i += 11
		default:
			i += 5
		}
	}
	type level struct {
		obj bool
		n   int // tokens read at this level
	}
	var stack []level
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			continue
		}
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			if s, ok := tok.(string); ok && top.obj && top.n%2 == 0 && strings.HasPrefix(s, "\x00") {
				return errors.New("name starting with NUL")
			}
			top.n++
		}
		if d, ok := tok.(json.Delim); ok {
			stack = append(stack, level{obj: d == '{'})
			if len(stack) > maxDepth {
				return fmt.Errorf("nested deeper than %d", maxDepth)
			}
		}
	}
}
