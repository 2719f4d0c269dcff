package api_test

import (
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/dualhook/dualhook/testkit/apitest"
)

// A cursor is opaque, but a forged one whose timestamp PostgreSQL cannot represent (or that
// overflows) is refused as any other forgery, not answered 500.
func TestCursorWithAnOutOfRangeTimestampIsRefused(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()
	// PostgreSQL's timestamptz starts in 4713 BC (-210866803200000000 µs); this API issues
	// cursors from rows' creation times, so anything outside years 1–9999 is a forgery.
	for _, micros := range []string{"-210866803200000001", "-9223372036854775808", "9223372036854775807", "253402300800000000", "-62135596800000001"} {
		cursor := base64.RawURLEncoding.EncodeToString([]byte(micros + ".key_abc"))
		for _, path := range []string{"/api/v1/api-keys", "/api/v1/connections", "/api/v1/onboarding/sessions", "/api/v1/events"} {
			res := env.Do(apitest.Request{Method: "GET", Path: path + "?cursor=" + cursor, Key: p.Key})
			assert.Contains(t, fieldsOf(t, res), "cursor", "%s %s", path, micros)
		}
	}
}
