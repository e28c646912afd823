package bolt_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/bolt"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "sidecar-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	store, err := bolt.Open(filepath.Join(dir, "sessions.db"), bolt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()

	ctx := context.Background()
	now := time.Now()
	err = store.Create(ctx, "key-from-manager", &sessions.Record{
		Attrs:     map[string]json.RawMessage{"theme": json.RawMessage(`"dark"`)},
		Principal: "user:42",
		Version:   1,
		Created:   now,
		IdleExp:   now.Add(30 * time.Minute),
		AbsExp:    now.Add(24 * time.Hour),
	})
	if err != nil {
		log.Fatal(err)
	}
	version, err := store.Apply(ctx, "key-from-manager", &sessions.Delta{
		Set: map[string]json.RawMessage{"cart": json.RawMessage(`[7]`)},
	})
	if err != nil {
		log.Fatal(err)
	}
	rec, err := store.Load(ctx, "key-from-manager", nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(version, string(rec.Attrs["theme"]), string(rec.Attrs["cart"]))

	// A second Open of the same file fails once Timeout has passed.
	_, err = bolt.Open(filepath.Join(dir, "sessions.db"), bolt.Options{Timeout: 10 * time.Millisecond})
	fmt.Println(errors.Is(err, bolt.ErrLocked))
	// Output:
	// 2 "dark" [7]
	// true
}
