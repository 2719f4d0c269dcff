package api

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// page is a parsed ?limit=&cursor= (SPEC §1): keyset pagination on (created_at, id), newest
// first, so concurrent inserts never shift or repeat rows.
type page struct {
	limit  int
	before *time.Time
	lastID string
}

type listResponse[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"nextCursor"`
}

func parsePage(c echo.Context) (page, error) {
	p := page{limit: 50}
	bad := problems{}
	if raw := c.QueryParam("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 100 {
			bad.add("limit", "must be an integer from 1 to 100")
		}
		p.limit = n
	}
	if raw := c.QueryParam("cursor"); raw != "" {
		t, id, ok := decodeCursor(raw)
		if !ok {
			bad.add("cursor", "is not a cursor this API issued")
		}
		p.before, p.lastID = &t, id
	}
	return p, bad.err()
}

func encodeCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(t.UnixMicro(), 10) + "." + id))
}

func decodeCursor(s string) (time.Time, string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", false
	}
	micros, id, ok := strings.Cut(string(raw), ".")
	if !ok || id == "" {
		return time.Time{}, "", false
	}
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil || n < minCursorMicros || n > maxCursorMicros {
		return time.Time{}, "", false
	}
	return time.UnixMicro(n).UTC(), id, true
}

// A cursor holds a row's creation time, so years 1 to 9999 (RFC 3339's range) cover every cursor
// this API issues; anything outside is a forgery, and PostgreSQL refuses part of it (timestamptz
// starts in 4713 BC), which answered 500.
var (
	minCursorMicros = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()
	maxCursorMicros = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
)

// respondPage renders rows fetched with limit+1: the extra row only says a next page exists.
func respondPage[R any, T any](c echo.Context, p page, rows []R, key func(R) (time.Time, string), render func(R) T) error {
	out := listResponse[T]{Data: make([]T, 0, min(len(rows), p.limit))}
	for i, r := range rows {
		if i == p.limit {
			t, id := key(rows[i-1])
			next := encodeCursor(t, id)
			out.NextCursor = &next
			break
		}
		out.Data = append(out.Data, render(r))
	}
	return c.JSON(http.StatusOK, out)
}

// timestamp renders SPEC §1's RFC 3339 UTC form.
func timestamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func optTimestamp(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timestamp(*t)
	return &s
}
