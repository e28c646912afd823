package certstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/redis/go-redis/v9"
)

// listPage is how many index entries one round trip of List reads.
const listPage = 1000

// under returns the ZRANGE BYLEX bounds of the keys under key: those
// starting with key+"/", which sort from key+"/" (inclusive) up to
// key+"0" (exclusive), '0' being the byte after '/'. For the empty key,
// the root, that is every key.
func under(key string) (lo, hi string) {
	if key == "" {
		return "-", "+"
	}
	return "[" + key + "/", "(" + key + "0"
}

// List returns the keys under path, a directory ("" for the root), in
// byte order. Not recursive, it returns path's children: every file and
// directory whose key is path+"/"+name with no further "/" in name.
// Recursive, it returns every file and directory below path, at any
// depth, as certmagic's FileStorage does. It returns an error wrapping
// fs.ErrNotExist when path is neither a directory nor a file (a file has
// no children: an empty list), and so for the root until something is
// stored.
//
// It reads the index a page of a thousand entries per round trip, so its
// cost is in the number of keys below path, not in the size of the Redis
// database. Each page is read atomically, the whole listing is not: keys
// stored or deleted during the call may or may not be listed.
func (s *Storage) List(ctx context.Context, path string, recursive bool) ([]string, error) {
	if len(path) > MaxKeyBytes {
		return nil, checkKey("list", path)
	}
	lo, hi := under(path)
	base := ""
	if path != "" {
		base = path + "/"
	}
	var out []string
	seen := make(map[string]bool)
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for {
		page, err := s.client.ZRangeArgs(ctx, redis.ZRangeArgs{
			Key: s.index, Start: lo, Stop: hi, ByLex: true, Count: listPage,
		}).Result()
		if err != nil {
			return nil, fmt.Errorf("certstore: listing %q: %w", path, err)
		}
		for _, k := range page {
			rel := strings.TrimPrefix(k, base)
			if !recursive {
				child, _, _ := strings.Cut(rel, "/")
				add(base + child)
				continue
			}
			// Every directory between path and k, then k.
			for i, c := range rel {
				if c == '/' {
					add(base + rel[:i])
				}
			}
			add(k)
		}
		if len(page) < listPage {
			break
		}
		lo = "(" + page[len(page)-1]
	}
	if len(out) == 0 {
		// Nothing below path: a file, or nothing at all.
		if _, err := s.Stat(ctx, path); err != nil {
			return nil, fmt.Errorf("certstore: listing %q: %w", path, err)
		}
	}
	slices.Sort(out)
	return out, nil
}
