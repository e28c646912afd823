package sessions

import "encoding/json"

// EncodeAttrs renders attributes as the session JWT's data claim does,
// for tests.
func EncodeAttrs(attrs map[string]json.RawMessage) json.RawMessage {
	buf, _ := appendAttrs(nil, attrs, nil)
	return buf
}

// StrictJSON is strictJSON for the external tests' fuzz targets.
var StrictJSON = strictJSON
