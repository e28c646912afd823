// Package migrate copies the live sessions of one store into another, so
// that moving Sidecar from the bolt file of one box to Redis for a fleet,
// or from one Redis deployment to another, logs no one out. `sidecar
// store migrate` is its command line; docs/migrate.md is the procedure.
//
// Copy reads the source only through sessions.Lister (which writes
// nothing) and writes the target only through sessions.Store.Create, the
// write that stores a record as given: the same key (the store key is
// derived from the cookie's token, so every cookie keeps working), the
// same attributes byte for byte, Version, Created, idle and absolute
// expiry, principal, handle and client, indexed under its principal and
// handle as the target indexes any session.
//
// A key the target already holds (a live session, or the tombstone a
// login left when it regenerated a copied session away) is never
// overwritten: Copy counts it as existing. A record that expired
// before it could be written is skipped; one that expires while it is
// written is stored with its expiry already past, which every store
// treats as absent, so no copy outlives its original. So a second run
// copies only what the first did not, and changes nothing else.
//
// A second run cannot tell a session the target never had from one it
// had and has since deleted (a logout, a revoke, a regenerate without a
// tombstone): without a journal it would copy that session back from a
// source that still holds it. A Journal, kept from one run to the next,
// lists the keys earlier runs left in the target, and Copy never writes
// those again.
package migrate
