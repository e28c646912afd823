package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// reloadableKeys returns the keys, and the sections and lists whose keys,
// a running Sidecar applies when it reloads its configuration on SIGHUP.
// Every other key takes a restart.
func reloadableKeys() []string {
	return []string{
		"upstreams",
		"proxy.policy",
		"proxy.health_check",
		"proxy.passive",
		"proxy.retry",
		"proxy.affinity",
		"log.level",
	}
}

// ReloadDiff compares c, the configuration a Sidecar runs with, to next,
// the configuration just loaded for a reload; both should have passed
// [Config.Validate]. It returns the dotted keys whose values differ, in the
// order of the file, split in two:
//
//   - applied: keys a running Sidecar applies on SIGHUP: upstreams (names,
//     URLs, weights, entries added or removed), proxy.policy,
//     proxy.health_check.*, proxy.passive.*, proxy.retry.*,
//     proxy.affinity.* and log.level;
//   - needRestart: every other key (listen, server.*, the proxy's timeouts
//     and pool size, store.*, session.* with session.lock.*, locks.*,
//     headers.*, admin.*, lock_service.*, log.format, tls.*), which keeps
//     its old value until Sidecar is restarted.
//
// Keys are written as in errors: "upstreams[1].weight" for a changed entry,
// "upstreams[2]" for an entry present in only one of the two,
// "proxy.affinity.routes.node1" for a route added, removed or changed, and
// a list of values ("session.secrets", "store.redis.addrs") as a whole.
// Only names are returned, never values, so the result may be logged even
// when a secret changed. Both are nil when nothing changed.
func (c Config) ReloadDiff(next Config) (applied, needRestart []string) {
	var changed []string
	diffKeys(&changed, "", reflect.ValueOf(c), reflect.ValueOf(next))
	for _, key := range changed {
		if appliesOnReload(key) {
			applied = append(applied, key)
		} else {
			needRestart = append(needRestart, key)
		}
	}
	return applied, needRestart
}

// appliesOnReload reports whether key is, or is inside, one of
// reloadableKeys.
func appliesOnReload(key string) bool {
	for _, k := range reloadableKeys() {
		if key == k || strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[") {
			return true
		}
	}
	return false
}

// diffKeys appends to out the keys, under the dotted key, whose values
// differ between a and b, which have the same type.
func diffKeys(out *[]string, key string, a, b reflect.Value) {
	switch t := a.Type(); {
	case isSection(t):
		for i := range t.NumField() {
			diffKeys(out, joinKey(key, t.Field(i).Tag.Get("koanf")), a.Field(i), b.Field(i))
		}
	case isSectionList(t):
		for i := range max(a.Len(), b.Len()) {
			ekey := fmt.Sprintf("%s[%d]", key, i)
			if i < a.Len() && i < b.Len() {
				diffKeys(out, ekey, a.Index(i), b.Index(i))
			} else {
				*out = append(*out, ekey)
			}
		}
	case isMap(t):
		var names []string
		for _, m := range []reflect.Value{a, b} {
			for _, k := range m.MapKeys() {
				if !slices.Contains(names, k.String()) {
					names = append(names, k.String())
				}
			}
		}
		slices.Sort(names)
		for _, name := range names {
			k := reflect.ValueOf(name).Convert(t.Key())
			va, vb := a.MapIndex(k), b.MapIndex(k)
			if va.IsValid() != vb.IsValid() || va.IsValid() && !va.Equal(vb) {
				*out = append(*out, key+"."+name)
			}
		}
	case t.Kind() == reflect.Slice:
		// A nil list and an empty one are the same value.
		equal := a.Len() == b.Len()
		for i := 0; equal && i < a.Len(); i++ {
			equal = a.Index(i).Equal(b.Index(i))
		}
		if !equal {
			*out = append(*out, key)
		}
	default:
		if !a.Equal(b) {
			*out = append(*out, key)
		}
	}
}
