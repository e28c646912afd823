package sessions

import "encoding/json"

// EncodeAttrs renders attributes as the session JWT's data claim does,
// for tests.
func EncodeAttrs(attrs map[string]json.RawMessage) json.RawMessage {
	return appendAttrs(nil, attrs)
}

// StrictJSON is strictJSON for the external tests' fuzz targets.
var StrictJSON = strictJSON
