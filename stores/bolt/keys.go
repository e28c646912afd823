package bolt

import (
	"bytes"
	"encoding/binary"
	"math"
	"time"
)

// Bucket names. See the package comment for what each holds.
var (
	bucketMeta       = []byte("meta")
	bucketSessions   = []byte("sessions")
	bucketPrincipals = []byte("principals")
	bucketExpiry     = []byte("expiry")
)

// layoutKey in bucketMeta holds the layout version: one byte naming the set
// of buckets and the shape of their keys. Open refuses a file whose layout
// it does not know.
var layoutKey = []byte("layout")

// layoutV1 is the bucket layout this package writes.
const layoutV1 byte = 1

// principalPrefix is the start of every principal-index key for p: the
// length of p as a uvarint, then p. Because the length comes first, the
// prefix of one principal is never a prefix of another's keys.
func principalPrefix(p string) []byte {
	b := make([]byte, 0, binary.MaxVarintLen64+len(p))
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// principalKey is the principal-index key that lists session key under p.
func principalKey(p, key string) []byte {
	return append(principalPrefix(p), key...)
}

// expiryStampLen is the length of the time stamp at the front of an
// expiry-index key.
const expiryStampLen = 8

// expiryStamp encodes t as 8 bytes whose byte order is time order: Unix
// nanoseconds, clamped to the int64 range (the zero time and anything
// before 1678 sort first; anything after 2262 sorts last), with the sign
// bit flipped, big-endian.
func expiryStamp(t time.Time) [expiryStampLen]byte {
	var n int64
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		n = math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		n = math.MaxInt64
	default:
		n = t.UnixNano()
	}
	var b [expiryStampLen]byte
	binary.BigEndian.PutUint64(b[:], uint64(n)^(1<<63))
	return b
}

// expiryKey is the expiry-index key for session key expiring at exp.
func expiryKey(exp time.Time, key string) []byte {
	stamp := expiryStamp(exp)
	b := make([]byte, 0, expiryStampLen+len(key))
	b = append(b, stamp[:]...)
	return append(b, key...)
}

// expiredBy reports whether the expiry-index key k names a record that has
// expired at the instant whose stamp is now (a record is live only while
// the clock is strictly before its expiry).
func expiredBy(k []byte, now [expiryStampLen]byte) bool {
	return len(k) >= expiryStampLen && bytes.Compare(k[:expiryStampLen], now[:]) <= 0
}
