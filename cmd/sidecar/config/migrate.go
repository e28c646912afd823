package config

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
)

// MigrationWarnings says what in to would log users out although their
// sessions were copied: session secrets that do not verify from's
// cookies, or another cookie name.
func MigrationWarnings(from, to *Config) []string {
	var w []string
	if signing := from.Session.SecretBytes(); len(signing) > 0 &&
		!slices.ContainsFunc(to.Session.SecretBytes(), func(b []byte) bool { return bytes.Equal(b, signing[0]) }) {
		w = append(w, "--to's session.secrets do not include --from's first one, which signs its cookies: "+
			"they will not verify there, and every user will be logged out all the same")
	}
	if from.Session.CookieName != to.Session.CookieName {
		w = append(w, fmt.Sprintf("--to's session.cookie_name %q is not --from's %q: the new Sidecar will not read the cookies browsers hold",
			to.Session.CookieName, from.Session.CookieName))
	}
	return w
}

// Same reports whether a and b name the same store: the same bolt
// file, or the same Redis addresses, database and prefix (a Redis reached
// by two spellings of its address is not detected; copying it onto itself
// finds every session there already and writes nothing).
func (a StoreConfig) Same(b StoreConfig) bool {
	if a.Type != b.Type {
		return false
	}
	switch a.Type {
	case StoreBolt:
		fa, errA := os.Stat(a.Bolt.Path)
		fb, errB := os.Stat(b.Bolt.Path)
		if errA == nil && errB == nil {
			return os.SameFile(fa, fb)
		}
		pa, _ := filepath.Abs(a.Bolt.Path)
		pb, _ := filepath.Abs(b.Bolt.Path)
		return pa == pb
	case StoreRedis:
		return slices.Equal(a.Redis.Addrs, b.Redis.Addrs) && a.Redis.MasterName == b.Redis.MasterName &&
			a.Redis.DB == b.Redis.DB && a.Redis.Prefix == b.Redis.Prefix
	}
	return false
}
