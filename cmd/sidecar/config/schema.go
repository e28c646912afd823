package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// The schema of the configuration is the Config type itself: a key is a
// field's koanf tag, a section is a struct-typed field, a list of sections
// (upstreams) is a slice of structs, and a map (proxy.affinity.routes) is
// a value whose keys are data, not configuration keys. These helpers walk
// it so that unknown keys are caught the same way in the file and in the
// environment.

// configType is the reflect.Type of Config.
func configType() reflect.Type { return reflect.TypeFor[Config]() }

// isDuration reports whether t is time.Duration.
func isDuration(t reflect.Type) bool { return t == reflect.TypeFor[time.Duration]() }

// isSection reports whether a field of type t holds nested keys.
func isSection(t reflect.Type) bool { return t.Kind() == reflect.Struct }

// isSectionList reports whether a field of type t is a list of sections.
func isSectionList(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct
}

// isMap reports whether a field of type t is a map of values.
func isMap(t reflect.Type) bool { return t.Kind() == reflect.Map }

// isKey reports whether the struct field f is a configuration key: an
// exported field. An unexported one (Config's record of the environment
// variables it ignored) is bookkeeping that no file or variable sets.
func isKey(f reflect.StructField) bool { return f.IsExported() }

// fieldByKey returns the field of struct type t whose key is key.
func fieldByKey(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if isKey(f) && f.Tag.Get("koanf") == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

// keysOf returns the keys of struct type t, in field order.
func keysOf(t reflect.Type) []string {
	keys := make([]string, 0, t.NumField())
	for i := range t.NumField() {
		if isKey(t.Field(i)) {
			keys = append(keys, t.Field(i).Tag.Get("koanf"))
		}
	}
	return keys
}

// leafKeys returns every key of struct type t that holds a value, in dotted
// form under prefix; keys inside a list of sections are written
// "upstreams[].name".
func leafKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !isKey(f) {
			continue
		}
		key := joinKey(prefix, f.Tag.Get("koanf"))
		switch {
		case isSection(f.Type):
			out = append(out, leafKeys(f.Type, key)...)
		case isSectionList(f.Type):
			out = append(out, leafKeys(f.Type.Elem(), key+"[]")...)
		default:
			out = append(out, key)
		}
	}
	return out
}

// mapKeys returns every key of struct type t, in dotted form under prefix,
// whose value is a map.
func mapKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if !isKey(f) {
			continue
		}
		key := joinKey(prefix, f.Tag.Get("koanf"))
		switch {
		case isSection(f.Type):
			out = append(out, mapKeys(f.Type, key)...)
		case isMap(f.Type):
			out = append(out, key)
		}
	}
	return out
}

// joinKey appends key to the dotted prefix.
func joinKey(prefix, key string) string {
	if prefix == "" {
		return key
	}
	return prefix + "." + key
}

// checkKeys returns an error for every key of m, recursively, that struct
// type t does not define, and for every value whose shape (mapping, list
// or scalar) does not fit its key. prefix is m's own dotted key ("" for
// the root).
func checkKeys(m map[string]any, t reflect.Type, prefix string) []error {
	names := make([]string, 0, len(m))
	for name := range m {
		names = append(names, name)
	}
	slices.Sort(names)

	var errs []error
	for _, name := range names {
		key := joinKey(prefix, name)
		f, ok := fieldByKey(t, name)
		if !ok {
			errs = append(errs, unknownKey(key, prefix, name, t))
			continue
		}
		switch v := m[name].(type) {
		case nil:
			// An empty value keeps the default.
		case map[string]any:
			switch {
			case isSection(f.Type):
				errs = append(errs, checkKeys(v, f.Type, key)...)
			case isMap(f.Type):
				// Its keys are data; the decoder checks the values.
			default:
				errs = append(errs, keyErr(key, "expected %s, got a mapping", describe(f.Type)))
			}
		case []any:
			switch {
			case isSectionList(f.Type):
				for i, elem := range v {
					ekey := fmt.Sprintf("%s[%d]", key, i)
					if em, ok := elem.(map[string]any); ok {
						errs = append(errs, checkKeys(em, f.Type.Elem(), ekey)...)
					} else {
						errs = append(errs, keyErr(ekey, "expected a mapping with %s, got %s",
							andList(keysOf(f.Type.Elem())), describe(reflect.TypeOf(elem))))
					}
				}
			case f.Type.Kind() != reflect.Slice:
				errs = append(errs, keyErr(key, "expected %s, got a list", describe(f.Type)))
			}
		default:
			if isSection(f.Type) || isMap(f.Type) || f.Type.Kind() == reflect.Slice {
				errs = append(errs, keyErr(key, "expected %s, got %s", describe(f.Type), describe(reflect.TypeOf(v))))
			}
			// Other mismatches between scalars are reported by the decoder.
		}
	}
	return errs
}

// andList joins items as "a, b and c".
func andList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// unknownKey builds the error for key, which is not defined because its
// element name, under the dotted prefix, is not a key of struct type t
// (key is prefix.name, or longer when name was meant as a section). It
// suggests the closest key of t, if one is close.
func unknownKey(key, prefix, name string, t reflect.Type) error {
	msg := "unknown key"
	if key != joinKey(prefix, name) {
		msg += ": there is no section " + joinKey(prefix, name)
	}
	if s := closest(name, keysOf(t)); s != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", joinKey(prefix, s))
	}
	return &KeyError{Key: key, Msg: msg}
}

// closest returns the candidate within edit distance 2 of name (the
// nearest, first on ties), or "".
func closest(name string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
