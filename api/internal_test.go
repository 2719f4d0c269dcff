package api

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/dualhook/dualhook/internal/config"
)

// A panicking handler answers 500 internal_error in the envelope, without internals.
func TestPanicBecomesInternalError(t *testing.T) {
	s, err := New(Deps{Config: config.Config{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	s.echo.GET("/boom", func(echo.Context) error { panic("secret internals EAAtoken") })
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Contains(t, rec.Body.String(), `"code":"internal_error"`)
	assert.NotContains(t, rec.Body.String(), "EAAtoken")
	assert.NotContains(t, rec.Body.String(), "goroutine")
}

func TestCanonicalHashIgnoresKeyOrderAndSpacing(t *testing.T) {
	a := canonicalHash([]byte(`{"b":1,"a":{"y":[1,2],"x":"s"}}`))
	b := canonicalHash([]byte(" {\"a\": {\"x\":\"s\",\"y\":[1,2]}, \"b\":1}\n"))
	c := canonicalHash([]byte(`{"a":{"x":"s","y":[2,1]},"b":1}`))
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, c)
	assert.Equal(t, canonicalHash(nil), canonicalHash([]byte{}))
	assert.NotEqual(t, canonicalHash([]byte(`{"n":1.0}`)), canonicalHash([]byte(`{"n":1.5}`)))
}

func TestCursorRoundTripAndRejectsForgeries(t *testing.T) {
	for _, s := range []string{"", "!!", "bm9kb3Q", encodeCursorForTest("x", "")} {
		_, _, ok := decodeCursor(s)
		assert.False(t, ok, s)
	}
	c := encodeCursorForTest("1700000000000000", "key_abc")
	ts, id, ok := decodeCursor(c)
	require.True(t, ok)
	assert.Equal(t, "key_abc", id)
	assert.Equal(t, int64(1700000000000000), ts.UnixMicro())
	assert.False(t, strings.ContainsAny(c, "+/="), "cursors are URL-safe")
}

func encodeCursorForTest(micros, id string) string {
	return base64URL(micros + "." + id)
}

func base64URL(s string) string {
	return strings.TrimRight(b64.EncodeToString([]byte(s)), "=")
}

var b64 = base64.RawURLEncoding

// An Update wait that ran out — our deadline, or the SDK's long poll giving up just before it —
// means "still in progress"; anything else, or a caller that went away, does not.
func TestWaitRanOut(t *testing.T) {
	live := context.Background()
	expired, cancel := context.WithTimeout(live, -time.Second)
	defer cancel()
	gaveUp := client.NewWorkflowUpdateServiceTimeoutOrCanceledError(errors.New("stream terminated by RST_STREAM with error code: CANCEL"))
	gone, cancelReq := context.WithCancel(live)
	cancelReq()

	assert.True(t, waitRanOut(live, expired, errors.New("context deadline exceeded")), "our deadline")
	assert.True(t, waitRanOut(live, live, fmt.Errorf("get: %w", gaveUp)), "the SDK gave up first")
	assert.False(t, waitRanOut(gone, live, gaveUp), "the caller went away")
	assert.False(t, waitRanOut(live, live, errors.New("connection refused")), "Temporal unreachable")
}

func TestUnstorableStringNamesThePath(t *testing.T) {
	for raw, want := range map[string][2]string{
		`{"a":"x"}`:                              {"", ""},
		`{"a":"\\u0000"}`:                        {"", ""}, // an escaped backslash, then "u0000"
		`{"a":"\ud83d\ude00","b":"\u00e9"}`:      {"", ""},
		`{"a":"x\u0000"}`:                        {"a", "must not contain the NUL character (\\u0000)"},
		`{"a":1,"b":[true,null,{"c":"\u0000"}]}`: {"b[2].c", "must not contain the NUL character (\\u0000)"},
		`{"a":{"b":[]},"c":{"d":["\ud800x"]}}`:   {"c.d[0]", "must not contain an unpaired UTF-16 surrogate"},
		`{"a":"\udc00"}`:                         {"a", "must not contain an unpaired UTF-16 surrogate"},
		`{"a":"\ud800"}`:                         {"a", "must not contain an unpaired UTF-16 surrogate"},
		`{"m":{"k\u0000":1}}`:                    {"m", "must not contain the NUL character (\\u0000) in a key"},
		`{"k\u0000":1}`:                          {"body", "must not contain the NUL character (\\u0000) in a key"},
		`["\u0000"]`:                             {"[0]", "must not contain the NUL character (\\u0000)"},
		`{"a":[[1],[2,"\u0000"]]}`:               {"a[1][1]", "must not contain the NUL character (\\u0000)"},
	} {
		path, problem := unstorableString([]byte(raw))
		assert.Equal(t, want, [2]string{path, problem}, raw)
	}
}

func TestCallbackValidation(t *testing.T) {
	for event, want := range map[string]string{
		"CANCEL_WHATSAPP_BUSINESS_APP_ONBOARDING": "CANCEL", "ERROR_WHATSAPP_BUSINESS_APP_ONBOARDING": "ERROR",
		"CANCEL": "CANCEL", "ERROR": "ERROR",
	} {
		r := callbackRequest{Event: event, ErrorMessage: "Tab\tand\nnewline are fine."}
		require.NoError(t, r.validate(), event)
		assert.Equal(t, want, r.Event, "the workflow sees the plain event")
	}
	for _, msg := range []string{"\x00", "a\x01", "\r", "\x1b[0m", "\x7f"} {
		r := callbackRequest{Event: "ERROR", ErrorMessage: msg}
		assert.ErrorContains(t, r.validate(), "errorMessage", "%q", msg)
	}
	r := callbackRequest{Event: "CANCEL_WHATSAPP_BUSINESS_APP_ONBOARDING", Code: "abc"}
	assert.ErrorContains(t, r.validate(), "code", "a cancel carries no code, whatever its flow")
}
