package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts the name of every environment variable that overrides a
// key.
const EnvPrefix = "SIDECAR_"

// EnvName returns the environment variable that overrides a dotted key:
// EnvName("session.idle_timeout") is "SIDECAR_SESSION__IDLE_TIMEOUT".
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "__"))
}

// envValue maps one environment variable to its dotted key and a value
// typed for that key: a string for strings and durations (checked here),
// an int, a bool, a []any of strings for lists, a []any of maps for
// upstreams, a map[string]any of strings for proxy.affinity.routes. name
// includes EnvPrefix.
//
// A variable that names no key returns an *[envIgnored] error, which
// [Load] turns into a warning: apps share environment files and may name
// their own variables SIDECAR_ (an app's SIDECAR_HEADER_SECRET), and
// Kubernetes injects SIDECAR_PORT=tcp://... for any Service named
// "sidecar". A variable that reaches a key but cannot set it that way (a
// section, a level inside a value, a list or a map) or holds a value that
// does not fit its key returns a *[KeyError].
func envValue(name, value string) (string, any, error) {
	from := "(from environment variable " + name + ")"
	rest := strings.TrimPrefix(name, EnvPrefix)
	parts := strings.Split(strings.ToLower(rest), "__")
	if slices.Contains(parts, "") {
		return "", nil, &envIgnored{name: name, hint: `levels are separated by "__", e.g. SIDECAR_SESSION__IDLE_TIMEOUT`}
	}

	full := strings.Join(parts, ".")
	t := configType()
	for i, part := range parts {
		prefix := strings.Join(parts[:i], ".")
		key := joinKey(prefix, part)
		f, ok := fieldByKey(t, part)
		if !ok {
			return "", nil, unknownEnvVar(name, full, parts, i, t)
		}
		last := i == len(parts)-1
		switch {
		case isSection(f.Type) && last:
			return "", nil, keyErr(key, "is a section, not a value; set one of its keys, e.g. %s %s",
				EnvName(joinKey(key, keysOf(f.Type)[0])), from)
		case isSection(f.Type):
			t = f.Type
			continue
		case !last && isSectionList(f.Type):
			return "", nil, keyErr(full, "unknown key; set the whole list as %s=name=url,... %s",
				EnvName(key), from)
		case !last && isMap(f.Type):
			return "", nil, keyErr(full, "unknown key; set the whole map as %s=route=upstream,... %s",
				EnvName(key), from)
		case !last:
			return "", nil, keyErr(full, "unknown key: %s is a value, not a section %s", key, from)
		}
		v, err := envConvert(f.Type, value)
		if err != nil {
			return "", nil, keyErr(key, "%v %s", err, from)
		}
		return key, v, nil
	}
	// Not reached: parts has at least one element and the loop returns at
	// the last one.
	return "", nil, &envIgnored{name: name}
}

// envIgnored is envValue's error for a variable that names no key. [Load]
// reports it among [Config.Warnings] and goes on without it. Neither it
// nor its hint holds the variable's value.
type envIgnored struct {
	name string // the variable, e.g. SIDECAR_PORT
	hint string // "did you mean ...?", or "" when nothing is close
}

// Error is the warning: it names the variable and why it is ignored.
func (e *envIgnored) Error() string {
	msg := "environment variable " + e.name + " is ignored: it names no configuration key"
	if e.hint != "" {
		msg += " (" + e.hint + ")"
	}
	return msg
}

// unknownEnvVar is the *envIgnored for the variable name, read as the
// dotted key full, whose level parts[i] is not a key of struct type t. Its
// hint is the variable meant: the same key with "__" between levels for a
// name written with single underscores (SIDECAR_SESSION_IDLE_TIMEOUT),
// else the name with that level replaced by the closest key of t.
func unknownEnvVar(name, full string, parts []string, i int, t reflect.Type) error {
	for _, k := range leafKeys(configType(), "") {
		if strings.ReplaceAll(k, ".", "_") == full {
			return &envIgnored{name: name, hint: "did you mean " + EnvName(k) + "?"}
		}
	}
	if s := closest(parts[i], keysOf(t)); s != "" {
		meant := slices.Clone(parts)
		meant[i] = s
		return &envIgnored{name: name, hint: "did you mean " + EnvName(strings.Join(meant, ".")) + "?"}
	}
	return &envIgnored{name: name}
}

// envConvert converts an environment variable's value for a key of type t.
func envConvert(t reflect.Type, s string) (any, error) {
	switch {
	case isDuration(t):
		if _, err := time.ParseDuration(s); err != nil {
			return nil, fmt.Errorf("invalid duration %q", s)
		}
		return s, nil
	case isSectionList(t):
		return parseUpstreams(s)
	case isMap(t):
		return parseRoutes(s)
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		return splitList(s), nil
	}
	switch t.Kind() {
	case reflect.String:
		return s, nil
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, fmt.Errorf("invalid boolean %q (use true or false)", s)
		}
		return b, nil
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("invalid integer %q", s)
		}
		return n, nil
	}
	return nil, fmt.Errorf("cannot be set from the environment (%s)", t)
}

// splitList splits a comma-separated list, trimming spaces around items and
// dropping empty ones; "" is the empty list.
func splitList(s string) []any {
	out := []any{}
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// weightSuffix ends an entry of SIDECAR_UPSTREAMS that sets the weight.
const weightSuffix = ";weight="

// parseUpstreams parses "name=url,name=url;weight=3" into the shape of the
// upstreams key in YAML; an entry without ";weight=" keeps the default
// weight. An entry is not echoed in errors: its URL may hold credentials.
func parseUpstreams(s string) ([]any, error) {
	out := []any{}
	for i, item := range splitList(s) {
		name, url, ok := strings.Cut(item.(string), "=")
		name, url = strings.TrimSpace(name), strings.TrimSpace(url)
		entry := map[string]any{}
		if j := strings.LastIndex(url, weightSuffix); j >= 0 {
			w, err := strconv.ParseInt(strings.TrimSpace(url[j+len(weightSuffix):]), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("entry %d: the weight after %q is not an integer", i+1, weightSuffix)
			}
			entry["weight"] = w
			url = strings.TrimSpace(url[:j])
		}
		if !ok || name == "" || url == "" {
			return nil, fmt.Errorf("entry %d is not name=url (expected e.g. app1=http://127.0.0.1:8081,app2=http://127.0.0.1:8082;weight=2)", i+1)
		}
		entry["name"], entry["url"] = name, url
		out = append(out, entry)
	}
	return out, nil
}

// parseRoutes parses "route=upstream,route=upstream" into the shape of
// proxy.affinity.routes in YAML. An entry is split at its last '=', as an
// upstream name has none, so that a route may contain '=' (a base64 cookie
// value in map mode).
func parseRoutes(s string) (map[string]any, error) {
	out := map[string]any{}
	for i, item := range splitList(s) {
		item := item.(string)
		j := strings.LastIndex(item, "=")
		if j < 0 {
			return nil, fmt.Errorf("entry %d is not route=upstream (expected e.g. node1=app1,node2=app2)", i+1)
		}
		route, upstream := strings.TrimSpace(item[:j]), strings.TrimSpace(item[j+1:])
		if _, dup := out[route]; dup {
			return nil, fmt.Errorf("entry %d repeats the route %q", i+1, route)
		}
		out[route] = upstream
	}
	return out, nil
}
