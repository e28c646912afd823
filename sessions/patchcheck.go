package sessions

import (
	"errors"
	"fmt"
	"unicode/utf8"
)

// Reasons checkPatch gives, each wrapped in ErrBadPatch by the caller.
var (
	errNotObject     = errors.New("not a JSON object")
	errTooDeep       = errors.New("nested too deep")
	errBadUTF8       = errors.New("invalid UTF-8")
	errLoneSurrogate = errors.New("escaped UTF-16 surrogate without its pair")
	errNULName       = errors.New(`member name starting with \u0000`)
	errSyntax        = errors.New("invalid JSON")
)

// checkPatch validates one patch value in a single pass, without
// building anything, before any merge work is done. It accepts exactly
// the documents that are
//   - valid JSON (RFC 8259) whose top-level value is an object;
//   - nested at most maxDepth deep, the patch object itself being depth 1
//     (the scan stops at the first bracket past the limit);
//   - valid UTF-8 throughout (names and values);
//   - free of \u escapes that decode to a lone UTF-16 surrogate: a high
//     surrogate must be followed at once by an escaped low one, and a low
//     one must follow a high one (I-JSON, RFC 7493 §2.1; PHP's
//     json_decode rejects them, and Python's json.loads yields strings it
//     cannot encode);
//   - free of member names, at any depth, whose first character is U+0000
//     (PHP's json_decode cannot make such a property and fails the whole
//     document).
//
// The error says what is wrong and where (a byte offset), never the
// content.
func checkPatch(b string, maxDepth int) error {
	// The stack of open containers: '{' or '['. It never grows past
	// maxDepth.
	var stackBuf [32]byte
	stack := stackBuf[:0]
	const (
		wantValue      = iota // a value
		wantValueOrEnd        // just after '[': a value or ']'
		wantNameOrEnd         // just after '{': a name or '}'
		wantName              // after ',' in an object
		wantColon             // after a name
		wantCommaOrEnd        // after a value: ',', the closing bracket, or the end of input
	)
	i := skipSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		return errNotObject
	}
	state := wantValue
	for {
		i = skipSpace(b, i)
		if i == len(b) {
			if state == wantCommaOrEnd && len(stack) == 0 {
				return nil
			}
			return fmt.Errorf("%w: unexpected end at byte %d", errSyntax, i)
		}
		c := b[i]
		switch state {
		case wantValue, wantValueOrEnd:
			if c == ']' && state == wantValueOrEnd {
				stack = stack[:len(stack)-1]
				state, i = wantCommaOrEnd, i+1
				continue
			}
			switch c {
			case '{', '[':
				if len(stack) >= maxDepth {
					return fmt.Errorf("%w: more than %d levels at byte %d", errTooDeep, maxDepth, i)
				}
				stack = append(stack, c)
				state, i = wantNameOrEnd, i+1
				if c == '[' {
					state = wantValueOrEnd
				}
				continue
			case '"':
				n, err := scanString(b, i, false)
				if err != nil {
					return err
				}
				i = n
			case 't':
				i = scanLiteral(b, i, "true")
			case 'f':
				i = scanLiteral(b, i, "false")
			case 'n':
				i = scanLiteral(b, i, "null")
			default:
				i = scanNumber(b, i)
			}
			if i < 0 {
				return fmt.Errorf("%w: bad value at byte %d", errSyntax, -i-1)
			}
			state = wantCommaOrEnd
		case wantNameOrEnd, wantName:
			if c == '}' && state == wantNameOrEnd {
				stack = stack[:len(stack)-1]
				state, i = wantCommaOrEnd, i+1
				continue
			}
			if c != '"' {
				return fmt.Errorf("%w: expected a member name at byte %d", errSyntax, i)
			}
			n, err := scanString(b, i, true)
			if err != nil {
				return err
			}
			state, i = wantColon, n
		case wantColon:
			if c != ':' {
				return fmt.Errorf("%w: expected ':' at byte %d", errSyntax, i)
			}
			state, i = wantValue, i+1
		case wantCommaOrEnd:
			if len(stack) == 0 {
				return fmt.Errorf("%w: data after the object at byte %d", errSyntax, i)
			}
			top := stack[len(stack)-1]
			switch {
			case c == ',' && top == '{':
				state = wantName
			case c == ',':
				state = wantValue
			case c == '}' && top == '{', c == ']' && top == '[':
				stack = stack[:len(stack)-1]
			default:
				return fmt.Errorf("%w: expected ',' or a closing bracket at byte %d", errSyntax, i)
			}
			i++
		}
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b string, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanLiteral returns the index after lit at b[i:], or -i-1 when it is not
// there.
func scanLiteral(b string, i int, lit string) int {
	if len(b)-i < len(lit) || b[i:i+len(lit)] != lit {
		return -i - 1
	}
	return i + len(lit)
}

// scanNumber returns the index after the JSON number at b[i:], or -i-1
// when there is none: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func scanNumber(b string, i int) int {
	start := i
	bad := -start - 1
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return bad
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return bad
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return bad
		}
		i = j
	}
	return i
}

func digits(b string, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// scanString checks the string whose opening quote is b[i] and returns the
// index after its closing quote. name marks a member name.
func scanString(b string, i int, name bool) (int, error) {
	start := i
	i++
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, nil
		case c < 0x20:
			return 0, fmt.Errorf("%w: control character in a string at byte %d", errSyntax, i)
		case c == '\\':
			if i+1 == len(b) {
				return 0, fmt.Errorf("%w: unterminated string at byte %d", errSyntax, start)
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
				continue
			case 'u':
			default:
				return 0, fmt.Errorf("%w: bad escape at byte %d", errSyntax, i)
			}
			r, ok := hex4(b, i+2)
			if !ok {
				return 0, fmt.Errorf("%w: bad \\u escape at byte %d", errSyntax, i)
			}
			switch {
			case r == 0 && name && i == start+1:
				return 0, fmt.Errorf("%w at byte %d", errNULName, start)
			case 0xDC00 <= r && r <= 0xDFFF:
				return 0, fmt.Errorf("%w at byte %d", errLoneSurrogate, i)
			case 0xD800 <= r && r <= 0xDBFF:
				lo, ok := rune(0), i+11 < len(b) && b[i+6] == '\\' && b[i+7] == 'u'
				if ok {
					lo, ok = hex4(b, i+8)
				}
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return 0, fmt.Errorf("%w at byte %d", errLoneSurrogate, i)
				}
				i += 12
				continue
			}
			i += 6
		case c < utf8.RuneSelf:
			i++
		default:
			r, size := utf8.DecodeRuneInString(b[i:])
			if r == utf8.RuneError && size == 1 {
				return 0, fmt.Errorf("%w at byte %d", errBadUTF8, i)
			}
			i += size
		}
	}
	return 0, fmt.Errorf("%w: unterminated string at byte %d", errSyntax, start)
}

// hex4 decodes the four hex digits at b[i:].
func hex4(b string, i int) (rune, bool) {
	if len(b)-i < 4 {
		return 0, false
	}
	var r rune
	for j := i; j < i+4; j++ {
		c := b[j]
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}
