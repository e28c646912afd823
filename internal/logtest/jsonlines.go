package logtest

import (
	"encoding/json"
	"strings"
	"testing"
)

// JSONLines parses every line of out (a JSON log) and returns the
// entries. It fails t, naming every line that is not one JSON object,
// when there is any: a log that must stay machine-readable.
func JSONLines(t testing.TB, out string) []map[string]any {
	t.Helper()
	if out == "" {
		return nil
	}
	var entries []map[string]any
	var bad []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var e map[string]any
		if json.Unmarshal([]byte(line), &e) != nil {
			bad = append(bad, line)
			continue
		}
		entries = append(entries, e)
	}
	if len(bad) > 0 {
		t.Fatalf("%d lines are not JSON objects:\n%s", len(bad), strings.Join(bad, "\n"))
	}
	return entries
}
