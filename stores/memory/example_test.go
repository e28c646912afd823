package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
	"github.com/sidecarproxy/sidecar/stores/memory"
)

func Example() {
	store := memory.New(memory.Options{})
	defer store.Close()
	ctx := context.Background()

	now := time.Now()
	err := store.Create(ctx, "key-1", &sessions.Record{
		Attrs:     map[string]json.RawMessage{"cart": json.RawMessage(`[]`)},
		Principal: "user-7",
		Version:   1,
		Created:   now,
		IdleExp:   now.Add(30 * time.Minute),
		AbsExp:    now.Add(24 * time.Hour),
	})
	if err != nil {
		panic(err)
	}

	// Write one attribute; others are left as they are.
	v, err := store.Apply(ctx, "key-1", &sessions.Delta{
		Set: map[string]json.RawMessage{"theme": json.RawMessage(`"dark"`)},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("version after Apply:", v)

	// Move the session to a new key, as on login.
	rec, err := store.Regenerate(ctx, "key-1", "key-2", &sessions.Delta{})
	if err != nil {
		panic(err)
	}
	fmt.Println("version after Regenerate:", rec.Version, string(rec.Attrs["theme"]))

	_, err = store.Load(ctx, "key-1", nil)
	fmt.Println("old key gone:", errors.Is(err, sessions.ErrNotFound))

	keys, err := store.ByPrincipal(ctx, "user-7")
	if err != nil {
		panic(err)
	}
	fmt.Println("sessions of user-7:", keys)
	// Output:
	// version after Apply: 2
	// version after Regenerate: 3 "dark"
	// old key gone: true
	// sessions of user-7: [key-2]
}
