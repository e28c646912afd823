package certstore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/redis/go-redis/v9"
)

// deleteBatch is how many keys under a directory one round trip of Delete
// removes, so that deleting a large directory never blocks Redis for
// long.
const deleteBatch = 100

// Storage is a certmagic.Storage on Redis: standalone, Sentinel (a
// failover client) or Cluster. Its Lock, TryLock and Unlock are leases of
// the Locker it was given, kept alive while held. It is safe for
// concurrent use; it holds no connections of its own, and closing the
// client and the Locker is the caller's business. Call Close when done,
// to release the locks still held.
type Storage struct {
	client  redis.UniversalClient
	locker  Locker
	opts    Options
	index   string // the index's Redis key
	files   string // the prefix of every key's hash
	scripts scripts

	mu     sync.Mutex
	held   map[string]*hold // by lock name
	closed bool
}

var (
	_ certmagic.Storage          = (*Storage)(nil)
	_ certmagic.TryLocker        = (*Storage)(nil)
	_ certmagic.LockLeaseRenewer = (*Storage)(nil)
)

// New returns a Storage on client, locking with locker (lock.NewRedis on
// the same client, or lock.NewRedlock). Give the client
// ContextTimeoutEnabled, so that contexts bound every Redis call. New does
// no I/O. It returns an error if client or locker is nil or an option
// cannot be used.
func New(client redis.UniversalClient, locker Locker, opts Options) (*Storage, error) {
	if client == nil || locker == nil {
		return nil, errors.New("certstore: New needs a Redis client and a Locker")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	tag := "{" + opts.Prefix + "}"
	return &Storage{
		client:  client,
		locker:  locker,
		opts:    opts,
		index:   tag + "index",
		files:   tag + "f:",
		scripts: newScripts(),
		held:    make(map[string]*hold),
	}, nil
}

// file is the Redis key of key's hash.
func (s *Storage) file(key string) string { return s.files + key }

// checkKey refuses a key the Storage does not store: empty, or longer
// than MaxKeyBytes. The error quotes no more than the key's length.
func checkKey(op, key string) error {
	switch {
	case key == "":
		return fmt.Errorf("certstore: %s: empty key", op)
	case len(key) > MaxKeyBytes:
		return fmt.Errorf("certstore: %s: key of %d bytes, over %d", op, len(key), MaxKeyBytes)
	}
	return nil
}

// Store puts value at key, replacing any value there, and records the
// time of the write (Redis's clock), in one atomic step. It returns
// ErrTooLarge for a value over Options.MaxValueBytes. Errors name the key,
// never the value.
func (s *Storage) Store(ctx context.Context, key string, value []byte) error {
	if err := checkKey("store", key); err != nil {
		return err
	}
	if len(value) > s.opts.MaxValueBytes {
		return fmt.Errorf("%w: storing %q: %d bytes, over %d", ErrTooLarge, key, len(value), s.opts.MaxValueBytes)
	}
	err := s.scripts.store.Run(ctx, s.client, []string{s.file(key), s.index}, key, value).Err()
	if err != nil {
		return fmt.Errorf("certstore: storing %q: %w", key, err)
	}
	return nil
}

// Load returns the value at key, or an error wrapping fs.ErrNotExist if
// there is none (a directory has no value either).
func (s *Storage) Load(ctx context.Context, key string) ([]byte, error) {
	if err := checkKey("load", key); err != nil {
		return nil, err
	}
	v, err := s.client.HGet(ctx, s.file(key), "v").Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, fmt.Errorf("certstore: loading %q: %w", key, fs.ErrNotExist)
	case err != nil:
		return nil, fmt.Errorf("certstore: loading %q: %w", key, err)
	}
	return v, nil
}

// Delete deletes key and, if it is a directory, every key under it (keys
// starting with key+"/"). A key that does not exist is not an error. Keys
// under a directory are deleted in batches of a hundred, each batch
// atomically; Delete returns once none is left, so a key stored under the
// directory while Delete runs is deleted too, and nil means that, when it
// returned, key existed neither as a file nor as a directory. On error
// some keys may be gone and others not. The empty key (the whole
// storage) is refused.
func (s *Storage) Delete(ctx context.Context, key string) error {
	if err := checkKey("delete", key); err != nil {
		return err
	}
	lo, hi := under(key)
	names := []string{key}
	for {
		next, err := s.client.ZRangeArgs(ctx, redis.ZRangeArgs{
			Key: s.index, Start: lo, Stop: hi, ByLex: true, Count: deleteBatch,
		}).Result()
		if err != nil {
			return fmt.Errorf("certstore: deleting %q: listing it: %w", key, err)
		}
		names = append(names, next...)
		if err := s.deleteKeys(ctx, names); err != nil {
			return fmt.Errorf("certstore: deleting %q: %w", key, err)
		}
		if len(next) < deleteBatch {
			return nil
		}
		names = names[:0]
	}
}

// deleteKeys deletes names and their index entries in one script.
func (s *Storage) deleteKeys(ctx context.Context, names []string) error {
	keys := make([]string, 0, len(names)+1)
	args := make([]any, 0, len(names))
	keys = append(keys, s.index)
	for _, n := range names {
		keys = append(keys, s.file(n))
		args = append(args, n)
	}
	return s.scripts.delete.Run(ctx, s.client, keys, args...).Err()
}

// Exists reports whether key is a file or a directory; false also when
// Redis could not be asked.
func (s *Storage) Exists(ctx context.Context, key string) bool {
	_, err := s.Stat(ctx, key)
	return err == nil
}

// Stat describes key: a file, with the time of its last Store (Redis's
// clock, in milliseconds) and its size in bytes, or a directory (the
// prefix of stored keys; IsTerminal false, no time or size). It returns an
// error wrapping fs.ErrNotExist if key is neither. The empty key is the
// root, a directory once anything is stored.
func (s *Storage) Stat(ctx context.Context, key string) (certmagic.KeyInfo, error) {
	if len(key) > MaxKeyBytes {
		return certmagic.KeyInfo{}, checkKey("stat", key)
	}
	lo, hi := under(key)
	v, err := s.scripts.stat.Run(ctx, s.client, []string{s.file(key), s.index}, lo, hi).Int64Slice()
	switch {
	case err != nil:
		return certmagic.KeyInfo{}, fmt.Errorf("certstore: stat %q: %w", key, err)
	case len(v) == 3 && v[0] == 1:
		return certmagic.KeyInfo{Key: key, Modified: time.UnixMilli(v[1]), Size: v[2], IsTerminal: true}, nil
	case len(v) == 1 && v[0] == 2:
		return certmagic.KeyInfo{Key: key}, nil
	case len(v) == 1 && v[0] == 0:
		return certmagic.KeyInfo{}, fmt.Errorf("certstore: stat %q: %w", key, fs.ErrNotExist)
	}
	return certmagic.KeyInfo{}, fmt.Errorf("certstore: stat %q: unexpected reply %v", key, v)
}

// String describes the Storage for logs (certmagic logs the storage it
// uses).
func (s *Storage) String() string { return "redis:" + s.opts.Prefix }
