package redisstore

// ScriptHashes returns the SHA1 of every script the store runs, for
// tests that check what the servers' script caches hold.
func (s *Store) ScriptHashes() []string {
	var hs []string
	for _, sc := range s.scripts.all() {
		hs = append(hs, sc.Hash())
	}
	return hs
}

// TouchHash returns the SHA1 of touch.lua, for tests that count touches.
func (s *Store) TouchHash() string { return s.scripts.touch.Hash() }

// Reloading reports whether a reload of the scripts after a NOSCRIPT is
// under way.
func (s *Store) Reloading() bool {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	return s.reloading
}
