package api

import (
	"encoding/base64"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
