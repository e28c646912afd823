package bolt

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"time"

	"github.com/sidecarproxy/sidecar/sessions"
)

// recordV1 is the leading byte of a record in format 1. A later format
// takes the next number; decodeRecord refuses any byte it does not know.
const recordV1 byte = 1

// Format 1, after its leading byte, is a sequence of varints and
// length-prefixed byte strings (encoding/binary uvarint lengths):
//
//	varint   Version
//	time     Created, IdleExp, AbsExp (each: varint Unix seconds, uvarint nanoseconds)
//	bytes    Principal
//	uvarint  number of attributes, then for each: bytes name, bytes raw JSON value
//
// Nothing may follow the last attribute. The zero time.Time is stored as its
// own Unix seconds and decodes back to the zero value.

// encodeRecord returns rec in the current format, in a new buffer.
func encodeRecord(rec *sessions.Record) []byte {
	n := 1 + 4*binary.MaxVarintLen64 + 3*binary.MaxVarintLen32 +
		binary.MaxVarintLen64 + len(rec.Principal) + binary.MaxVarintLen64
	for k, v := range rec.Attrs {
		n += 2*binary.MaxVarintLen64 + len(k) + len(v)
	}
	b := make([]byte, 0, n)
	b = append(b, recordV1)
	b = binary.AppendVarint(b, rec.Version)
	b = appendTime(b, rec.Created)
	b = appendTime(b, rec.IdleExp)
	b = appendTime(b, rec.AbsExp)
	b = appendBytes(b, rec.Principal)
	b = binary.AppendUvarint(b, uint64(len(rec.Attrs)))
	for k, v := range rec.Attrs {
		b = appendBytes(b, k)
		b = appendBytes(b, string(v))
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func appendBytes(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodeRecord parses buf, which the caller owns and must not change
// afterwards: attribute values are slices of it (capped, so appending to one
// cannot overwrite its neighbour). Bytes read from a bbolt transaction must
// be copied first. Times come back in time.Local without a monotonic
// reading. Malformed input or an unknown format byte yields an error
// wrapping ErrCorrupt, never a panic.
func decodeRecord(buf []byte) (*sessions.Record, error) {
	if len(buf) == 0 {
		return nil, fmt.Errorf("%w: empty record", ErrCorrupt)
	}
	if buf[0] != recordV1 {
		return nil, fmt.Errorf("%w: unknown record format %d", ErrCorrupt, buf[0])
	}
	d := decoder{buf: buf, off: 1}
	rec := &sessions.Record{
		Version: d.varint(),
		Created: d.time(),
		IdleExp: d.time(),
		AbsExp:  d.time(),
	}
	rec.Principal = string(d.bytes())
	n := d.uvarint()
	// Each attribute takes at least two bytes, which bounds n before it
	// sizes an allocation.
	if d.err == nil && n > uint64(len(buf)-d.off)/2 {
		d.fail("attribute count")
	}
	if d.err != nil {
		return nil, d.err
	}
	rec.Attrs = make(map[string]json.RawMessage, n)
	for range n {
		k := string(d.bytes())
		v := d.bytes()
		if d.err != nil {
			return nil, d.err
		}
		rec.Attrs[k] = json.RawMessage(v)
	}
	if d.off != len(buf) {
		return nil, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(buf)-d.off)
	}
	return rec, nil
}

// decoder reads format 1's fields from buf; the first failure sticks in err
// and every later read returns a zero value.
type decoder struct {
	buf []byte
	off int
	err error
}

func (d *decoder) fail(field string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s at offset %d", ErrCorrupt, field, d.off)
	}
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.buf[d.off:])
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := d.uvarint()
	if d.err != nil {
		return time.Time{}
	}
	if nsec >= uint64(time.Second) {
		d.fail("nanoseconds")
		return time.Time{}
	}
	t := time.Unix(sec, int64(nsec))
	if t.IsZero() {
		return time.Time{}
	}
	return t
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)-d.off) || n > math.MaxInt32 {
		d.fail("length")
		return nil
	}
	end := d.off + int(n)
	b := d.buf[d.off:end:end]
	d.off = end
	return b
}
