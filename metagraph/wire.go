package metagraph

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"
)

// Graph is loose with JSON types: ids are strings but some endpoints send
// numbers, counters and timestamps arrive as numbers or numeric strings.
// These types accept both, so a type surprise degrades to a zero value
// instead of failing a whole call.

// flexInt decodes a JSON number or numeric string; anything else is 0.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	*f = 0
	b = bytes.Trim(bytes.TrimSpace(b), `"`)
	if n, err := strconv.ParseInt(string(b), 10, 64); err == nil {
		*f = flexInt(n)
	} else if x, err := strconv.ParseFloat(string(b), 64); err == nil {
		*f = flexInt(x)
	}
	return nil
}

// flexBool decodes true/false or their string forms; anything else is false.
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	v, _ := strconv.ParseBool(string(bytes.Trim(bytes.TrimSpace(b), `"`)))
	*f = flexBool(v)
	return nil
}

// flexString decodes a JSON string or number (Graph ids); null is "".
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*f = flexString(s)
		return nil
	}
	var n json.Number
	if json.Unmarshal(b, &n) == nil {
		*f = flexString(n.String())
		return nil
	}
	*f = ""
	return nil
}

func toStrings(in []flexString) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = string(s)
	}
	return out
}

// unixTime maps Graph's unix seconds to a time; 0 means "never"/"unset"
// (debug_token's expires_at for system-user tokens) and gives nil.
func unixTime(sec flexInt) *time.Time {
	if sec <= 0 {
		return nil
	}
	t := time.Unix(int64(sec), 0).UTC()
	return &t
}

// graphTimeLayout is how Graph formats times: "2023-08-22T19:05:53+0000".
const graphTimeLayout = "2006-01-02T15:04:05-0700"

// parseGraphTime accepts Graph's layout and RFC 3339; nil when neither.
func parseGraphTime(s string) *time.Time {
	for _, layout := range []string{graphTimeLayout, time.RFC3339} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t
		}
	}
	return nil
}
