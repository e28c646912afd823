package sessions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Errors that are the app's fault: the proxy answers 502 and changes
// nothing. The wrapped message says which header was wrong; it never
// contains session data.
var (
	// ErrBadPatch: a patch header is not a JSON object.
	ErrBadPatch = errors.New("sessions: patch is not a JSON object")
	// ErrBadAction: the action header is not regenerate or destroy, or
	// several action headers disagree.
	ErrBadAction = errors.New("sessions: unknown action")
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

// parsePatch decodes one patch header value into its top-level members.
// Anything but a JSON object (including null, arrays and trailing garbage)
// is ErrBadPatch.
func parsePatch(value string) (map[string]json.RawMessage, error) {
	b := bytes.TrimSpace([]byte(value))
	if len(b) == 0 || b[0] != '{' {
		return nil, ErrBadPatch
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(b, &members); err != nil {
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
// attrs is not modified. Any patch that is not a JSON object is ErrBadPatch
// and no delta is returned.
func Merge(attrs map[string]json.RawMessage, patches []string) (set map[string]json.RawMessage, del []string, err error) {
	work := map[string]json.RawMessage{}
	touched := map[string]bool{}
	for i, raw := range patches {
		members, err := parsePatch(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("patch header %d of %d: %w", i+1, len(patches), err)
		}
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
