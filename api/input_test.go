package api_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/db/dbq"
	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/internal/ids"
	"github.com/dualhook/dualhook/testkit/apitest"
)

// fieldsOf is an invalid_request answer's details.fields.
func fieldsOf(t *testing.T, res *apitest.Response) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusBadRequest, res.Status, "%s", res.Body)
	require.Equal(t, "invalid_request", res.ErrorCode(), "%s", res.Body)
	details, _ := res.Map(t)["error"].(map[string]any)["details"].(map[string]any)
	fields, _ := details["fields"].(map[string]any)
	return fields
}

// insertConnection stores an active connection (and the session that made it) for p directly.
func insertConnection(t *testing.T, env *apitest.Env, p apitest.Partner, tenantID, wabaID string) dbq.Connection {
	t.Helper()
	ctx := context.Background()
	sessionID := ids.New(ids.Session)
	_, err := env.Store.CreateSession(ctx, dbq.CreateSessionParams{
		ID: sessionID, PartnerID: p.Row.ID, TenantID: tenantID, TenantName: "Tenant", TokenHash: tokenHashOf(sessionID),
		SuccessRedirectURL: "https://app.acme.test/onboarding/done", FailureRedirectURL: "https://app.acme.test/onboarding/failed",
		CancelRedirectURL: "https://app.acme.test/onboarding/cancelled", WebhookOverrideURL: "https://hooks.acme.test/wa",
		WebhookVerifyTokenCiphertext: "x", Metadata: json.RawMessage(`{}`), ExpiresAt: time.Now().Add(time.Hour).UTC(),
		WorkflowID: domain.OnboardingID(sessionID),
	})
	require.NoError(t, err)
	conn, err := env.Store.InsertConnection(ctx, dbq.InsertConnectionParams{
		ID: ids.New(ids.Connection), PartnerID: p.Row.ID, TenantID: tenantID, SessionID: sessionID, WabaID: wabaID, PhoneNumberID: "2" + wabaID,
		ConnectionMode: domain.ModeCloudAPI, WebhookURL: "https://hooks.acme.test/wa", WebhookVerifyTokenCiphertext: "x",
		Metadata: json.RawMessage(`{}`), HeartbeatStatus: "UNKNOWN", TokenIssuedAt: time.Now().UTC(),
	})
	require.NoError(t, err)
	return conn
}

// rawWith is body as JSON with one literal replaced (for escapes json.Marshal never writes).
func rawWith(t *testing.T, body any, old, replacement string) string {
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	return strings.Replace(string(raw), old, replacement, 1)
}

func tokenHashOf(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// PostgreSQL cannot store NUL in text or jsonb, nor an unpaired UTF-16 surrogate in jsonb: a
// request body holding one (escaped, the only way JSON can carry it) is refused at the edge with
// 400 invalid_request naming the JSON path, on every route, instead of reaching the database
// and answering 500.
func TestNULInAJSONBodyIsRefusedWithItsPath(t *testing.T) {
	env := apitest.New(t, true, withTaskQueue(t))
	p := env.NewPartner()
	conn := insertConnection(t, env, p, "nul-1", strconv.FormatInt(time.Now().UnixNano(), 10)) // unique per run: -count=N
	cases := []struct {
		name, method, path string
		body               any
		field              string
	}{
		{"session metadata", "POST", "/api/v1/onboarding/sessions",
			sessionBody(map[string]any{"metadata": map[string]any{"note": "a\x00b"}}), "metadata.note"},
		{"session metadata in an array", "POST", "/api/v1/onboarding/sessions",
			sessionBody(map[string]any{"metadata": map[string]any{"tags": []any{"ok", map[string]any{"x": "\x00"}}}}), "metadata.tags[1].x"},
		{"a key of the session metadata", "POST", "/api/v1/onboarding/sessions",
			sessionBody(map[string]any{"metadata": map[string]any{"k\x00": 1}}), "metadata"},
		{"session metadata with an unpaired surrogate", "POST", "/api/v1/onboarding/sessions",
			rawWith(t, sessionBody(map[string]any{"metadata": map[string]any{"note": "SURROGATE"}}), `"SURROGATE"`, `"\ud800"`), "metadata.note"},
		{"session tenantName", "POST", "/api/v1/onboarding/sessions",
			sessionBody(map[string]any{"tenantName": "Acme\x00"}), "tenantName"},
		{"partner displayName", "PATCH", "/api/v1/partner", map[string]any{"displayName": "Acme\x00"}, "displayName"},
		{"partner allowedRedirectUrls", "PATCH", "/api/v1/partner",
			map[string]any{"allowedRedirectUrls": []string{"https://app.acme.test/\x00"}}, "allowedRedirectUrls[0]"},
		{"connection metadata", "PATCH", "/api/v1/connections/" + conn.ID, map[string]any{"metadata": map[string]any{"note": "\x00"}}, "metadata.note"},
		{"connection metadata with a low surrogate alone", "PATCH", "/api/v1/connections/" + conn.ID,
			`{"metadata":{"a":{"b":"x\udc00"}}}`, "metadata.a.b"},
		{"connection name", "PATCH", "/api/v1/connections/" + conn.ID, map[string]any{"name": "n\x00"}, "name"},
		{"API key name", "POST", "/api/v1/api-keys", map[string]any{"name": "k\x00"}, "name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := env.Do(apitest.Request{Method: tc.method, Path: tc.path, Key: p.Key, Body: tc.body})
			fields := fieldsOf(t, res)
			assert.Contains(t, fields, tc.field, "%s", res.Body)
		})
	}
	// A surrogate pair (an emoji written as escapes) and other control characters in metadata
	// are fine: PostgreSQL stores them.
	res := env.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/connections/" + conn.ID, Key: p.Key,
		Body: `{"metadata":{"note":"line\nnext \ud83d\ude00 \u0001"}}`})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Equal(t, "line\nnext 😀 \x01", res.Map(t)["metadata"].(map[string]any)["note"])
}

// Query parameters (list filters, cursors) never legitimately hold control characters or
// invalid UTF-8, which PostgreSQL would refuse: they answer 400 invalid_request naming the
// parameter.
func TestControlCharactersInQueryParametersAreRefused(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()
	cases := []struct{ path, field string }{
		{"/api/v1/onboarding/sessions?tenantId=a%00b", "tenantId"},
		{"/api/v1/connections?tenantId=%00", "tenantId"},
		{"/api/v1/connections?wabaId=1%00", "wabaId"},
		{"/api/v1/connections?wabaId=%ff", "wabaId"},
		{"/api/v1/events?type=onboarding.completed%00", "type"},
		{"/api/v1/events?tenantId=a%09b", "tenantId"},
		{"/api/v1/audit/secret-reveals?connectionId=conn_%00", "connectionId"},
		{"/api/v1/api-keys?unknown=%1b", "unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.path, func(t *testing.T) {
			res := env.Do(apitest.Request{Method: "GET", Path: tc.path, Key: p.Key})
			assert.Contains(t, fieldsOf(t, res), tc.field, "%s", res.Body)
		})
	}
	// The key is checked first: no oracle before authentication.
	res := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/connections?tenantId=%00"})
	assert.Equal(t, http.StatusUnauthorized, res.Status)
	// Printable filters still work.
	res = env.Do(apitest.Request{Method: "GET", Path: "/api/v1/connections?tenantId=a%20b%C3%A9", Key: p.Key})
	assert.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
}

// Path parameters: ids are matched as sent (an id holding %00 is simply unknown); a tenantId is
// percent-decoded, and one that decodes to invalid UTF-8 is refused like any unprintable one.
func TestUndecodablePathParametersAreRefused(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()
	for _, path := range []string{"/api/v1/tenants/a%ffb", "/api/v1/tenants/a%00b", "/api/v1/tenants/%C3"} {
		res := env.Do(apitest.Request{Method: "GET", Path: path, Key: p.Key})
		assert.Contains(t, fieldsOf(t, res), "tenantId", path)
	}
	for _, path := range []string{"/api/v1/connections/conn_%00", "/api/v1/connections/conn_%ff", "/api/v1/onboarding/sessions/sess_%00"} {
		res := env.Do(apitest.Request{Method: "GET", Path: path, Key: p.Key})
		assert.Equal(t, http.StatusNotFound, res.Status, "%s: %s", path, res.Body)
	}
}
