package bolt

import (
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/bbolt"

	"github.com/sidecarproxy/sidecar/sessions"
)

// The buckets of what a record says about itself for operators: its
// handle, and the client that created it (Record.Handle, ClientIP,
// UserAgent). They are buckets of their own rather than a new record
// format, for the reason tombstones are: a build that predates them
// ignores buckets it does not know, and still reads every record (a new
// record format would be corrupt to it, so going back to it would fail
// every session created since). Open creates them in older files; the
// layout version stays 1. Records without an entry have the three fields
// empty.
var (
	// bucketDetails: session key → detailsV1, then the handle, the client
	// address and the user agent as length-prefixed strings.
	bucketDetails = []byte("details")
	// bucketHandles: handle → session key, for ByHandle.
	bucketHandles = []byte("handles")
)

// detailsV1 is the leading byte of a details entry.
const detailsV1 byte = 1

// details is what bucketDetails holds for one record.
type details struct {
	handle, clientIP, userAgent string
}

func detailsOf(rec *sessions.Record) details {
	return details{handle: rec.Handle, clientIP: rec.ClientIP, userAgent: rec.UserAgent}
}

// encode returns d as bucketDetails stores it.
func (d details) encode() []byte {
	b := make([]byte, 0, 1+3*4+len(d.handle)+len(d.clientIP)+len(d.userAgent))
	b = append(b, detailsV1)
	b = appendBytes(b, d.handle)
	b = appendBytes(b, d.clientIP)
	return appendBytes(b, d.userAgent)
}

// decodeDetails parses an entry of bucketDetails. It only reads buf (the
// strings it returns are copies), which may be bbolt's memory map.
// Malformed input yields an error wrapping ErrCorrupt.
func decodeDetails(buf []byte) (details, error) {
	if len(buf) == 0 || buf[0] != detailsV1 {
		return details{}, fmt.Errorf("%w: unknown details format", ErrCorrupt)
	}
	dec := decoder{buf: buf, off: 1}
	h, ip, ua := dec.bytes(), dec.bytes(), dec.bytes()
	if dec.err == nil && dec.off != len(buf) {
		dec.fail("details length")
	}
	if dec.err != nil {
		return details{}, dec.err
	}
	// One copy holds all three, sliced (a read makes one string, not three).
	var b strings.Builder
	b.Grow(len(h) + len(ip) + len(ua))
	b.Write(h)
	b.Write(ip)
	b.Write(ua)
	all := b.String()
	return details{handle: all[:len(h)], clientIP: all[len(h) : len(h)+len(ip)], userAgent: all[len(h)+len(ip):]}, nil
}

// getDetails returns the details stored for key (empty when none, and
// in a file opened read-only that predates the bucket).
func getDetails(tx *bbolt.Tx, key []byte) (details, error) {
	b := tx.Bucket(bucketDetails)
	if b == nil {
		return details{}, nil
	}
	v := b.Get(key)
	if v == nil {
		return details{}, nil
	}
	return decodeDetails(v)
}

// putDetails stores next as key's details and moves the handle entry
// from prev's handle to next's. It writes nothing when they are equal.
func putDetails(tx *bbolt.Tx, key string, prev *details, next details) error {
	if prev != nil && *prev == next {
		return nil
	}
	if prev != nil {
		if err := dropHandle(tx, prev.handle, key); err != nil {
			return err
		}
	}
	b := tx.Bucket(bucketDetails)
	if next == (details{}) {
		if err := b.Delete([]byte(key)); err != nil {
			return err
		}
	} else if err := b.Put([]byte(key), next.encode()); err != nil {
		return err
	}
	if next.handle == "" {
		return nil
	}
	return tx.Bucket(bucketHandles).Put([]byte(next.handle), []byte(key))
}

// removeDetails deletes key's details and its handle entry, reading the
// handle from the details themselves, so that it also cleans up after a
// record that cannot be decoded.
func removeDetails(tx *bbolt.Tx, key string) error {
	d, err := getDetails(tx, []byte(key))
	if err != nil && !errors.Is(err, ErrCorrupt) {
		return err
	}
	if err := dropHandle(tx, d.handle, key); err != nil {
		return err
	}
	return tx.Bucket(bucketDetails).Delete([]byte(key))
}

// dropHandle deletes the handle entry h if it names key.
func dropHandle(tx *bbolt.Tx, h, key string) error {
	if h == "" {
		return nil
	}
	b := tx.Bucket(bucketHandles)
	if string(b.Get([]byte(h))) != key {
		return nil
	}
	return b.Delete([]byte(h))
}
