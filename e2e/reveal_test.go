package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/internal/secretstore"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

func revealPath(connectionID string) string {
	return "/api/v1/connections/" + connectionID + "/reveal-secrets"
}

// auditRows lists the partner's audit rows for a connection through the API.
func auditRows(t *testing.T, st *stacktest.Stack, p apitest.Partner, connectionID string) []map[string]any {
	t.Helper()
	res := st.API.Do(apitest.Request{Method: "GET", Path: "/api/v1/audit/secret-reveals?connectionId=" + connectionID, Key: p.Key})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	var page struct{ Data []map[string]any }
	res.JSON(t, &page)
	return page.Data
}

func auditCount(t *testing.T, st *stacktest.Stack, connectionID string) int {
	t.Helper()
	var n int
	require.NoError(t, st.API.Store.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM secret_reveal_audit WHERE connection_id = $1", connectionID).Scan(&n))
	return n
}

// Every reveal — an idempotent replay included — writes exactly one audit row, with who, what,
// from where and when; the secrets are the stored ones and the response is not cacheable.
func TestRevealWritesOneAuditRowPerCall(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	c := onboardConnection(t, st, st.Partner, "reveal-1", nil, sandbox.ESSessionRequest{})
	row := dbConnection(t, st, c.ConnectionID)
	ctx := context.Background()
	token, err := secretstore.Read(ctx, st.API.Store, st.API.Ring, *row.AccessTokenSecretID)
	require.NoError(t, err)
	pin, err := secretstore.Read(ctx, st.API.Store, st.API.Ring, *row.RegistrationPinSecretID)
	require.NoError(t, err)

	res := st.API.Do(apitest.Request{Method: "POST", Path: revealPath(c.ConnectionID), Key: st.Partner.Key,
		Body:   map[string]any{"secretTypes": []string{"access_token", "registration_pin"}},
		Header: map[string]string{"User-Agent": "reveal-test/1.0"}})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	assert.Equal(t, "no-cache", res.Header.Get("Pragma"))
	var got struct {
		ConnectionID string
		Secrets      map[string]*string
	}
	res.JSON(t, &got)
	assert.Equal(t, c.ConnectionID, got.ConnectionID)
	require.NotNil(t, got.Secrets["access_token"])
	assert.Equal(t, token, *got.Secrets["access_token"])
	require.NotNil(t, got.Secrets["registration_pin"])
	assert.Equal(t, pin, *got.Secrets["registration_pin"])
	assert.Regexp(t, `^\d{6}$`, pin)

	rows := auditRows(t, st, st.Partner, c.ConnectionID)
	require.Len(t, rows, 1)
	assert.Equal(t, c.ConnectionID, rows[0]["connectionId"])
	assert.Equal(t, st.Partner.KeyID, rows[0]["keyId"])
	assert.Equal(t, []any{"access_token", "registration_pin"}, rows[0]["secretTypes"])
	assert.Equal(t, res.Header.Get("X-Request-Id"), rows[0]["requestId"])
	assert.Equal(t, "127.0.0.1", rows[0]["clientIp"])
	assert.Equal(t, "reveal-test/1.0", rows[0]["userAgent"])
	assert.WithinDuration(t, time.Now(), mustTime(t, rows[0]["createdAt"]), time.Minute)
	assert.NotContains(t, string(st.API.Do(apitest.Request{Method: "GET", Path: "/api/v1/audit/secret-reveals", Key: st.Partner.Key}).Body), token,
		"the audit never carries a secret")

	// A second call is a second row; only the token this time.
	res = st.API.Do(apitest.Request{Method: "POST", Path: revealPath(c.ConnectionID), Key: st.Partner.Key,
		Body: map[string]any{"secretTypes": []string{"access_token"}}})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	assert.NotContains(t, res.Map(t)["secrets"], "registration_pin")
	assert.Len(t, auditRows(t, st, st.Partner, c.ConnectionID), 2)

	// An idempotent replay answers the stored response — and is audited like any reveal.
	idem := map[string]string{"Idempotency-Key": "reveal-once"}
	first := st.API.Do(apitest.Request{Method: "POST", Path: revealPath(c.ConnectionID), Key: st.Partner.Key, Header: idem,
		Body: map[string]any{"secretTypes": []string{"access_token"}}})
	require.Equal(t, 200, first.Status, "%s", first.Body)
	replay := st.API.Do(apitest.Request{Method: "POST", Path: revealPath(c.ConnectionID), Key: st.Partner.Key, Header: idem,
		Body: map[string]any{"secretTypes": []string{"access_token"}}})
	require.Equal(t, 200, replay.Status, "%s", replay.Body)
	assert.Equal(t, "true", replay.Header.Get("Idempotent-Replayed"))
	assert.JSONEq(t, string(first.Body), string(replay.Body))
	assert.Equal(t, "no-store", replay.Header.Get("Cache-Control"))
	assert.Equal(t, "no-cache", replay.Header.Get("Pragma"))
	rows = auditRows(t, st, st.Partner, c.ConnectionID)
	require.Len(t, rows, 4)
	assert.Equal(t, replay.Header.Get("X-Request-Id"), rows[0]["requestId"], "newest first: the replay's own row")

	// Filters and pagination.
	other := st.API.Do(apitest.Request{Method: "GET", Path: "/api/v1/audit/secret-reveals?keyId=key_nobody", Key: st.Partner.Key})
	assert.Empty(t, other.Map(t)["data"])
	page := st.API.Do(apitest.Request{Method: "GET", Path: "/api/v1/audit/secret-reveals?limit=3&keyId=" + st.Partner.KeyID, Key: st.Partner.Key})
	require.Equal(t, 200, page.Status)
	var p1 struct {
		Data       []map[string]any
		NextCursor *string
	}
	page.JSON(t, &p1)
	require.Len(t, p1.Data, 3)
	require.NotNil(t, p1.NextCursor)
	page = st.API.Do(apitest.Request{Method: "GET", Path: "/api/v1/audit/secret-reveals?limit=3&cursor=" + *p1.NextCursor, Key: st.Partner.Key})
	assert.Len(t, page.Map(t)["data"], 1)
	// Another partner sees none of it.
	p2 := st.NewPartner()
	assert.Empty(t, auditRows(t, st, p2, c.ConnectionID))
}

// A reveal that fails reveals nothing and writes no audit row.
func TestRevealFailuresWriteNoAuditRow(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	c := onboardConnection(t, st, st.Partner, "reveal-2", nil, sandbox.ESSessionRequest{})
	p2 := st.NewPartner()
	for _, tc := range []struct {
		name   string
		key    string
		path   string
		body   any
		status int
		code   string
	}{
		{"empty list", st.Partner.Key, revealPath(c.ConnectionID), map[string]any{"secretTypes": []string{}}, 400, "invalid_request"},
		{"no list", st.Partner.Key, revealPath(c.ConnectionID), map[string]any{}, 400, "invalid_request"},
		{"unknown type", st.Partner.Key, revealPath(c.ConnectionID), map[string]any{"secretTypes": []string{"access_token", "app_secret"}}, 400, "invalid_request"},
		{"wrong type", st.Partner.Key, revealPath(c.ConnectionID), map[string]any{"secretTypes": "access_token"}, 400, "invalid_request"},
		{"another partner's connection", p2.Key, revealPath(c.ConnectionID), map[string]any{"secretTypes": []string{"access_token"}}, 404, "not_found"},
		{"no such connection", st.Partner.Key, revealPath("conn_doesnotexist"), map[string]any{"secretTypes": []string{"access_token"}}, 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := st.API.Do(apitest.Request{Method: "POST", Path: tc.path, Key: tc.key, Body: tc.body})
			assert.Equal(t, tc.status, res.Status, "%s", res.Body)
			assert.Equal(t, tc.code, res.ErrorCode())
			assert.NotContains(t, string(res.Body), `"secrets":`)
		})
	}
	assert.Zero(t, auditCount(t, st, c.ConnectionID))

	// Meta refused the token (a 190 seen by any call): 409 meta_token_expired.
	execSQL(t, st, "UPDATE connections SET token_status = 'expired' WHERE id = $1", c.ConnectionID)
	res := st.API.Do(apitest.Request{Method: "POST", Path: revealPath(c.ConnectionID), Key: st.Partner.Key,
		Body: map[string]any{"secretTypes": []string{"access_token"}}})
	assert.Equal(t, 409, res.Status)
	assert.Equal(t, "meta_token_expired", res.ErrorCode())
	assert.Zero(t, auditCount(t, st, c.ConnectionID))

	// A successful reveal stored for replay is not replayed once the connection is disconnected:
	// the disconnect erased the secrets, the idempotency store must not bring them back.
	execSQL(t, st, "UPDATE connections SET token_status = 'valid' WHERE id = $1", c.ConnectionID)
	idem := map[string]string{"Idempotency-Key": "reveal-before-disconnect"}
	body := map[string]any{"secretTypes": []string{"access_token"}}
	require.Equal(t, 200, st.API.Do(apitest.Request{Method: "POST", Path: revealPath(c.ConnectionID), Key: st.Partner.Key, Header: idem, Body: body}).Status)
	require.Equal(t, 1, auditCount(t, st, c.ConnectionID))
	markDisconnected(t, st, c.ConnectionID)
	for _, h := range []map[string]string{nil, idem} {
		res = st.API.Do(apitest.Request{Method: "POST", Path: revealPath(c.ConnectionID), Key: st.Partner.Key, Header: h, Body: body})
		assert.Equal(t, 409, res.Status, "%s", res.Body)
		assert.Equal(t, "connection_disconnected", res.ErrorCode())
		assert.NotContains(t, string(res.Body), `"secrets":`)
	}
	assert.Equal(t, 1, auditCount(t, st, c.ConnectionID))
}

// SPEC §9: reveals have their own budget, 60 per hour per key by default; the 61st is refused
// with the rate-limit headers and writes no audit row.
func TestRevealRateLimitIsSixtyPerHour(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	require.Equal(t, 60, st.API.Config.RateLimitRevealPerHour, "the stack runs the SPEC's default reveal budget")
	c := onboardConnection(t, st, st.Partner, "reveal-3", nil, sandbox.ESSessionRequest{})
	// The window is a fixed clock hour: freeze the API's clock mid-hour so the test cannot
	// straddle two windows.
	now := time.Now()
	st.API.Clock.Advance(now.Truncate(time.Hour).Add(90 * time.Minute).Sub(now))
	windowEnd := st.API.Clock.Now().Truncate(time.Hour).Add(time.Hour)

	body := map[string]any{"secretTypes": []string{"access_token"}}
	for i := 1; i <= 60; i++ {
		res := st.API.Do(apitest.Request{Method: "POST", Path: revealPath(c.ConnectionID), Key: st.Partner.Key, Body: body})
		require.Equal(t, 200, res.Status, "call %d: %s", i, res.Body)
		assert.Equal(t, "60", res.Header.Get("X-RateLimit-Limit"))
		assert.Equal(t, strconv.Itoa(60-i), res.Header.Get("X-RateLimit-Remaining"))
	}
	res := st.API.Do(apitest.Request{Method: "POST", Path: revealPath(c.ConnectionID), Key: st.Partner.Key, Body: body})
	assert.Equal(t, 429, res.Status)
	assert.Equal(t, "rate_limited", res.ErrorCode())
	assert.Equal(t, "60", res.Header.Get("X-RateLimit-Limit"))
	assert.Equal(t, "0", res.Header.Get("X-RateLimit-Remaining"))
	assert.Equal(t, strconv.FormatInt(windowEnd.Unix(), 10), res.Header.Get("X-RateLimit-Reset"))
	assert.Equal(t, "1800", res.Header.Get("Retry-After"))
	assert.Equal(t, 60, auditCount(t, st, c.ConnectionID), "the refused call revealed nothing")

	// Outside the write budget: a write still goes through.
	patch := st.API.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/connections/" + c.ConnectionID, Key: st.Partner.Key,
		Body: map[string]any{"name": "still writable"}})
	assert.Equal(t, 200, patch.Status, "%s", patch.Body)
	// The next hour has a fresh budget.
	st.API.Clock.Advance(time.Hour)
	res = st.API.Do(apitest.Request{Method: "POST", Path: revealPath(c.ConnectionID), Key: st.Partner.Key, Body: body})
	assert.Equal(t, 200, res.Status)
}

func mustTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, ok := v.(string)
	require.True(t, ok, "%v is not a timestamp", v)
	ts, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)
	return ts
}
