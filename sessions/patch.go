package sessions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Errors that are the app's fault: the proxy answers 502 and changes
// nothing. The wrapped message says which header was wrong; it never
// contains session data.
var (
	// ErrBadPatch: a patch header is not a JSON object, breaks the limits
	// of PatchLimits, or holds what an app's JSON decoder would refuse
	// (invalid UTF-8, a lone escaped surrogate, a name starting with
	// \u0000).
	ErrBadPatch = errors.New("sessions: patch is not a valid JSON object")
	// ErrBadAction: the action header is not regenerate or destroy, or
	// several action headers disagree.
	ErrBadAction = errors.New("sessions: unknown action")
	// ErrBadPrincipal: several principal headers (or values) disagree, or
	// the principal is not valid UTF-8 or holds a control character.
	ErrBadPrincipal = errors.New("sessions: bad principal")
)

// Action is what the app asked to happen to the session after its patches.
type Action uint8

// The actions of protocol §3.
const (
	ActionNone Action = iota
	ActionRegenerate
	ActionDestroy
)

func (a Action) String() string {
	switch a {
	case ActionRegenerate:
		return "regenerate"
	case ActionDestroy:
		return "destroy"
	}
	return "none"
}

// ParseAction parses the values of the action header. No value is
// ActionNone; several values must agree.
func ParseAction(values []string) (Action, error) {
	act := ActionNone
	for i, v := range values {
		var a Action
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "regenerate":
			a = ActionRegenerate
		case "destroy":
			a = ActionDestroy
		default:
			return ActionNone, fmt.Errorf("%w: value %d of %d is not regenerate or destroy", ErrBadAction, i+1, len(values))
		}
		if i > 0 && a != act {
			return ActionNone, fmt.Errorf("%w: conflicting actions %s and %s", ErrBadAction, act, a)
		}
		act = a
	}
	return act, nil
}

// ParsePrincipal parses the values of the principal header, each trimmed
// of surrounding white space. No value is nil (leave the principal
// alone); "" clears it. Several values must agree, as several actions
// must: which of two spellings wins must not depend on how the app's
// server ordered its headers. A value that is not valid UTF-8 or holds a
// control character is refused: it would reach the JWT's sub claim
// rewritten (Go's JSON encoder turns invalid bytes into U+FFFD), so the
// app would see a principal other than the one indexed.
func ParsePrincipal(values []string) (*string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	p := strings.TrimSpace(values[0])
	for i, v := range values {
		v = strings.TrimSpace(v)
		if i > 0 && v != p {
			return nil, fmt.Errorf("%w: %d conflicting values", ErrBadPrincipal, len(values))
		}
		if !utf8.ValidString(v) {
			return nil, fmt.Errorf("%w: value %d of %d is not valid UTF-8", ErrBadPrincipal, i+1, len(values))
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return nil, fmt.Errorf("%w: value %d of %d holds a control character", ErrBadPrincipal, i+1, len(values))
		}
	}
	return &p, nil
}

// Change is everything an app's response asks of the session.
type Change struct {
	// Patches are the raw X-Sidecar-Patch values, applied in order.
	Patches []string
	// Action runs after the patches.
	Action Action
	// Principal, when non-nil, sets the principal ("" clears it).
	Principal *string
}

// Empty reports whether the change asks for nothing.
func (c *Change) Empty() bool {
	return len(c.Patches) == 0 && c.Action == ActionNone && c.Principal == nil
}

// PatchLimits bound the patches of one response. They are checked before
// any merge work, while scanning, so that a hostile patch costs one linear
// pass at most. The zero value of each field is its stated default.
type PatchLimits struct {
	// MaxDepth is the deepest nesting of objects and arrays a patch may
	// have, the patch object itself being depth 1; 0 means
	// DefaultMaxPatchDepth (32). The session JWT's payload then nests at
	// most MaxDepth+1 deep.
	MaxDepth int
	// MaxBytes is the most bytes the patch values of one response may hold
	// together; 0 means DefaultMaxPatchBytes (32 KiB). The Manager uses
	// PatchBytesFactor times its MaxBytes.
	MaxBytes int
}

func (l PatchLimits) withDefaults() PatchLimits {
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxPatchDepth
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxPatchBytes
	}
	return l
}

// parsePatch validates one patch header value (see checkPatch) and decodes
// it into its top-level members. Anything but a JSON object (including
// null, arrays and trailing garbage) is ErrBadPatch.
func parsePatch(value string, maxDepth int) (map[string]json.RawMessage, error) {
	if err := checkPatch(value, maxDepth); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadPatch, err)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal([]byte(value), &members); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPatch, err)
	}
	return members, nil
}

// isNull reports whether v is the JSON literal null.
func isNull(v json.RawMessage) bool {
	return string(bytes.TrimSpace(v)) == "null"
}

// mergeValue applies one RFC 7396 merge patch to one attribute value.
// current is nil when the attribute is absent; the result is nil when the
// attribute should be deleted. Values come back compacted.
func mergeValue(current, patch json.RawMessage) (json.RawMessage, error) {
	if isNull(patch) {
		return nil, nil
	}
	p := bytes.TrimSpace(patch)
	if p[0] != '{' {
		var buf bytes.Buffer
		if err := json.Compact(&buf, p); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	merged, err := mergeObject(current, p)
	if err != nil {
		return nil, err
	}
	return json.Marshal(merged)
}

// mergeObject merges the object patch p into target (replaced by {} when it
// is absent or not an object), recursively, as RFC 7396 describes.
func mergeObject(target, p json.RawMessage) (map[string]json.RawMessage, error) {
	var patch map[string]json.RawMessage
	if err := json.Unmarshal(p, &patch); err != nil {
		return nil, err
	}
	obj := map[string]json.RawMessage{}
	if t := bytes.TrimSpace(target); len(t) > 0 && t[0] == '{' {
		if err := json.Unmarshal(t, &obj); err != nil {
			return nil, err
		}
	}
	for k, v := range patch {
		if isNull(v) {
			delete(obj, k)
			continue
		}
		if vt := bytes.TrimSpace(v); vt[0] == '{' {
			sub, err := mergeObject(obj[k], vt)
			if err != nil {
				return nil, err
			}
			b, err := json.Marshal(sub)
			if err != nil {
				return nil, err
			}
			obj[k] = b
			continue
		}
		obj[k] = v
	}
	return obj, nil
}

// Merge applies the patches in order to a copy of attrs and returns the
// per-attribute delta: Set holds the final value of every attribute a patch
// left present, Delete every attribute a patch left absent, whether or not
// attrs had it (another request may have set it since attrs was loaded,
// and the last writer must win).
// attrs is not modified. Every patch is checked against lim before any is
// merged; any patch that is not a valid JSON object within lim is
// ErrBadPatch and no delta is returned.
func Merge(attrs map[string]json.RawMessage, patches []string, lim PatchLimits) (set map[string]json.RawMessage, del []string, err error) {
	lim = lim.withDefaults()
	total := 0
	for _, raw := range patches {
		total += len(raw)
	}
	if total > lim.MaxBytes {
		return nil, nil, fmt.Errorf("%w: %d patch header(s) of %d bytes together, over the limit of %d", ErrBadPatch, len(patches), total, lim.MaxBytes)
	}
	parsed := make([]map[string]json.RawMessage, len(patches))
	for i, raw := range patches {
		if parsed[i], err = parsePatch(raw, lim.MaxDepth); err != nil {
			return nil, nil, fmt.Errorf("patch header %d of %d: %w", i+1, len(patches), err)
		}
	}
	work := map[string]json.RawMessage{}
	touched := map[string]bool{}
	for i, members := range parsed {
		for k, v := range members {
			cur, ok := work[k]
			if !ok && !touched[k] {
				cur = attrs[k]
			}
			nv, err := mergeValue(cur, v)
			if err != nil {
				return nil, nil, fmt.Errorf("patch header %d of %d: %w: %v", i+1, len(patches), ErrBadPatch, err)
			}
			touched[k] = true
			if nv == nil {
				delete(work, k)
			} else {
				work[k] = nv
			}
		}
	}
	for k := range touched {
		if v, ok := work[k]; ok {
			if set == nil {
				set = map[string]json.RawMessage{}
			}
			set[k] = v
		} else {
			del = append(del, k)
		}
	}
	return set, del, nil
}
