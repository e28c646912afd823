package sessions

import "context"

// Lister is what copying a store's sessions to another store (stores/migrate,
// `sidecar store migrate`) needs from the store it copies from: every live
// session, with everything the store keeps about it. Every store in this
// repository implements it, and storetest.Run checks it for any store that
// does. It is not part of Store: serving never needs it.
type Lister interface {
	// Each calls fn with the key and a caller-owned copy of each record
	// live by the store clock when Each reaches it, as Load would return
	// it (untouched: Each slides no expiry), in no particular order.
	//
	// A record live from the start of Each to its end, and neither
	// written, moved nor deleted meanwhile, is passed exactly once.
	// Records created, written, regenerated or deleted while Each runs
	// may be passed or not, as they were before or after the change.
	// Tombstones, expired records and Regenerate's unfinished copies are
	// never passed.
	//
	// A stored record the store cannot read (corrupt, or in a format
	// newer than this build's) is passed as rec nil with err saying why,
	// for fn to decide whether to go on; err is nil otherwise.
	//
	// Each writes nothing, so it may read a store that must not change
	// (the source of a migration); fn may call the store. It stops at the
	// first error fn returns and returns it unwrapped, returns an error
	// wrapping ctx.Err() once ctx is done, and a store failure wrapped.
	Each(ctx context.Context, fn func(key string, rec *Record, err error) error) error
}
