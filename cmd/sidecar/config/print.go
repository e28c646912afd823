package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// String lists every key with its value, one "key: value" line each, in
// the order of the file ("session.idle_timeout: 30m0s"). Secrets print as
// [redacted] (or "" when unset), so the result is safe to log or show in
// `sidecar check`.
func (c Config) String() string {
	var b strings.Builder
	writeKeys(&b, "", reflect.ValueOf(c))
	return b.String()
}

// writeKeys writes the leaves of v under the dotted key.
func writeKeys(b *strings.Builder, key string, v reflect.Value) {
	switch {
	case isSection(v.Type()):
		for i := range v.NumField() {
			if f := v.Type().Field(i); isKey(f) {
				writeKeys(b, joinKey(key, f.Tag.Get("koanf")), v.Field(i))
			}
		}
	case isSectionList(v.Type()) && v.Len() > 0:
		for i := range v.Len() {
			writeKeys(b, fmt.Sprintf("%s[%d]", key, i), v.Index(i))
		}
	default:
		fmt.Fprintf(b, "%s: %s\n", key, formatValue(v))
	}
}

// formatValue renders one leaf value: strings quoted, secrets redacted,
// durations as time.Duration.String, lists in brackets, maps in braces
// sorted by key.
func formatValue(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case Secret:
		if x == "" {
			return `""`
		}
		return x.String()
	case time.Duration:
		return x.String()
	}
	switch v.Kind() {
	case reflect.String:
		return strconv.Quote(v.String())
	case reflect.Slice:
		items := make([]string, v.Len())
		for i := range v.Len() {
			items[i] = formatValue(v.Index(i))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case reflect.Map:
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		items := make([]string, len(keys))
		for i, k := range keys {
			items[i] = formatValue(k) + ": " + formatValue(v.MapIndex(k))
		}
		return "{" + strings.Join(items, ", ") + "}"
	}
	return fmt.Sprint(v.Interface())
}
