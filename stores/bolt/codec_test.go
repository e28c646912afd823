package bolt

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sidecarproxy/sidecar/sessions"
)

func TestCodecRoundTrip(t *testing.T) {
	now := time.Now().Truncate(time.Millisecond)
	tests := []struct {
		name string
		rec  *sessions.Record
	}{
		{"typical", newRecord(now, "user:42")},
		{"nanoseconds kept", &sessions.Record{
			Attrs: map[string]json.RawMessage{}, Version: 7,
			Created: time.Unix(1, 999_999_999), IdleExp: time.Unix(-5, 1), AbsExp: time.Unix(math.MaxInt32*4, 0),
		}},
		{"zero times and empty strings", &sessions.Record{
			Attrs: map[string]json.RawMessage{"": json.RawMessage{}, "k": json.RawMessage(`null`)},
		}},
		{"unicode and binary", &sessions.Record{
			Attrs:     map[string]json.RawMessage{"naïve\x00": json.RawMessage(`"✓"`)},
			Principal: "ü\x00\xff", Version: math.MaxInt64, Created: now,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeRecord(encodeRecord(tt.rec))
			require.NoError(t, err)
			assert.Equal(t, tt.rec, got)
		})
	}
}

func TestDecodeNilAttrsGivesEmptyMap(t *testing.T) {
	got, err := decodeRecord(encodeRecord(&sessions.Record{Version: 1}))
	require.NoError(t, err)
	assert.NotNil(t, got.Attrs)
	assert.Empty(t, got.Attrs)
}

func TestDecodeValuesDoNotOverlap(t *testing.T) {
	rec := &sessions.Record{Attrs: map[string]json.RawMessage{"a": json.RawMessage(`1`), "b": json.RawMessage(`2`)}}
	got, err := decodeRecord(encodeRecord(rec))
	require.NoError(t, err)
	_ = append(got.Attrs["a"], '9', '9', '9', '9')
	_ = append(got.Attrs["b"], '9', '9', '9', '9')
	assert.Equal(t, rec.Attrs, got.Attrs)
}

func TestDecodeCorrupt(t *testing.T) {
	good := encodeRecord(newRecord(time.Now(), "p"))
	tests := []struct {
		name string
		buf  []byte
	}{
		{"empty", nil},
		{"unknown format", append([]byte{9}, good[1:]...)},
		{"format zero", append([]byte{0}, good[1:]...)},
		{"version only", []byte{recordV1}},
		{"truncated", good[:len(good)-1]},
		{"trailing bytes", append(append([]byte{}, good...), 0)},
		{"unterminated varint", []byte{recordV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"nanoseconds out of range", binary.AppendUvarint([]byte{recordV1, 2, 0}, uint64(time.Second))},
		{"principal longer than record", []byte{recordV1, 2, 0, 0, 0, 0, 0, 0, 50, 'x'}},
		{"absurd attribute count", []byte{recordV1, 2, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, err := decodeRecord(tt.buf)
			assert.ErrorIs(t, err, ErrCorrupt)
			assert.Nil(t, rec)
		})
	}
}

// FuzzDecodeRecord checks that no input makes decodeRecord panic, and that
// what it accepts encodes back to the same bytes when the map order allows.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(encodeRecord(newRecord(time.Now(), "p")))
	f.Add(encodeRecord(&sessions.Record{}))
	f.Add([]byte{recordV1, 2})
	f.Fuzz(func(t *testing.T, buf []byte) {
		rec, err := decodeRecord(buf)
		if err != nil {
			require.ErrorIs(t, err, ErrCorrupt)
			return
		}
		again, err := decodeRecord(encodeRecord(rec))
		require.NoError(t, err)
		assert.Equal(t, rec, again)
	})
}
