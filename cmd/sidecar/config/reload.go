package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// reloadableKeys returns the keys, and the sections and lists whose keys,
// a running Sidecar applies when it reloads its configuration on SIGHUP.
// Every other key takes a restart. Each names a field of [Config], which
// [Config.Reload] copies whole and [Config.ReloadDiff] reports by key; it
// is the only list of them.
func reloadableKeys() []string {
	return []string{
		"upstreams",
		"proxy.policy",
		"proxy.panic_threshold",
		"proxy.health_check",
		"proxy.passive",
		"proxy.retry",
		"proxy.affinity",
		"proxy.error_pages",
		"session.secrets",
		"session.secrets_file",
		"headers.secret",
		"headers.secret_file",
		"headers.key_files",
		"log.level",
	}
}

// Reload returns the configuration a running Sidecar continues with when
// it reloads next, the configuration just loaded (which passed [Load]):
// merged is c with next's values for exactly the keys that apply on
// SIGHUP, and c's values for every other key, so that a later ReloadDiff
// still reports those as needing a restart. applied and needRestart are
// c.ReloadDiff(next).
//
// The keys that apply are upstreams (names, URLs, weights, entries added
// or removed), proxy.policy, proxy.panic_threshold,
// proxy.health_check.*, proxy.passive.*,
// proxy.retry.*, proxy.affinity.*, proxy.error_pages.dir (whose files
// the wiring reads again on every reload), the secrets session.secrets and
// headers.secret with their *_file twins (whose files [Load] has read
// again), headers.key_files (whose keys [Load] has read again: a new
// first key signs from then on, every listed key is published), and
// log.level. headers.algorithm takes a restart: a reload whose first key
// does not fit the running algorithm is refused.
//
// It returns an error, the problems of [Config.Validate], and c unchanged
// when merged does not validate: a key that applies can contradict one
// that keeps its running value (proxy.affinity.cookie must differ from the
// session.cookie_name that keeps running; a new session secret must
// differ from the lock_service.token that keeps running). merged shares lists and maps
// with c and next; none of the three may be modified afterwards.
func (c Config) Reload(next Config) (merged Config, applied, needRestart []string, err error) {
	merged = c
	dst, src := reflect.ValueOf(&merged).Elem(), reflect.ValueOf(next)
	for _, key := range reloadableKeys() {
		fieldAt(dst, key).Set(fieldAt(src, key))
	}
	merged.Headers.keys = next.Headers.keys // what headers.key_files held
	if err := merged.Validate(); err != nil {
		return c, nil, nil, err
	}
	applied, needRestart = c.ReloadDiff(next)
	return merged, applied, needRestart, nil
}

// fieldAt returns the field of v, a Config, at the dotted key. It panics
// when the key names no field: reloadableKeys is then wrong, which
// TestReloadableKeysExist catches.
func fieldAt(v reflect.Value, key string) reflect.Value {
	for part := range strings.SplitSeq(key, ".") {
		f, ok := fieldByKey(v.Type(), part)
		if !ok {
			panic(fmt.Sprintf("config: %q names no key of the configuration", key))
		}
		v = v.FieldByIndex(f.Index)
	}
	return v
}

// ReloadDiff compares c, the configuration a Sidecar runs with, to next,
// the configuration just loaded for a reload; both should have passed
// [Config.Validate]. It returns the dotted keys whose values differ, in the
// order of the file, split in two:
//
//   - applied: keys a running Sidecar applies on SIGHUP (see
//     [Config.Reload], which copies them);
//   - needRestart: every other key (listen, server.*, limits.*, the
//     proxy's timeouts and pool size, store.*, session.* but its secrets,
//     session.lock.*, locks.*, headers.* but its secret and key files, admin.*,
//     lock_service.*, log.format, tls.*), which keeps its old value until
//     Sidecar is restarted.
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
	if c.Headers.keysChanged(next.Headers) && !slices.Contains(changed, "headers.key_files") {
		changed = append(changed, "headers.key_files") // the files were rewritten in place
	}
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
			if f := t.Field(i); isKey(f) {
				diffKeys(out, joinKey(key, f.Tag.Get("koanf")), a.Field(i), b.Field(i))
			}
		}
	case isSectionList(t):
		diffSectionLists(out, key, a, b)
	case isMap(t):
		diffMaps(out, key, a, b)
	case !equalValues(a, b):
		*out = append(*out, key)
	}
}

// diffSectionLists appends the keys that differ between the lists of
// sections a and b: those inside an entry both have, and "key[i]" for an
// entry only one of them has.
func diffSectionLists(out *[]string, key string, a, b reflect.Value) {
	for i := range max(a.Len(), b.Len()) {
		ekey := fmt.Sprintf("%s[%d]", key, i)
		if i < a.Len() && i < b.Len() {
			diffKeys(out, ekey, a.Index(i), b.Index(i))
		} else {
			*out = append(*out, ekey)
		}
	}
}

// diffMaps appends "key.name" for every name added, removed or changed
// between the maps a and b, sorted by name.
func diffMaps(out *[]string, key string, a, b reflect.Value) {
	var names []string
	for _, k := range append(a.MapKeys(), b.MapKeys()...) {
		names = append(names, k.String())
	}
	slices.Sort(names)
	for _, name := range slices.Compact(names) {
		k := reflect.ValueOf(name).Convert(a.Type().Key())
		va, vb := a.MapIndex(k), b.MapIndex(k)
		if va.IsValid() != vb.IsValid() || va.IsValid() && !va.Equal(vb) {
			*out = append(*out, key+"."+name)
		}
	}
}

// equalValues reports whether the values a and b, neither a section nor a
// map, are equal; a nil list and an empty one are.
func equalValues(a, b reflect.Value) bool {
	if a.Kind() != reflect.Slice {
		return a.Equal(b)
	}
	if a.Len() != b.Len() {
		return false
	}
	for i := range a.Len() {
		if !a.Index(i).Equal(b.Index(i)) {
			return false
		}
	}
	return true
}
