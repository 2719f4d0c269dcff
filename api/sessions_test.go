package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/internal/partners"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/testenv"
)

func sessionBody(overrides map[string]any) map[string]any {
	b := map[string]any{
		"tenantId": "acme-1", "tenantName": "Acme One",
		"successRedirectUrl": "https://app.acme.test/onboarding/done", "failureRedirectUrl": "https://app.acme.test/onboarding/failed",
		"cancelRedirectUrl": "https://app.acme.test/onboarding/cancelled", "webhookOverrideUrl": "https://hooks.acme.test/wa",
		"webhookVerifyToken": "vt", "skipWebhookPreflight": true,
	}
	for k, v := range overrides {
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
	}
	return b
}

func withTaskQueue(t *testing.T) apitest.Option {
	q := testenv.TaskQueue(t)
	return func(c *configT) { c.TemporalTaskQueue = q }
}

// Every validation of SPEC §4.1–§4.2 and §12, with its code and the field it names.
func TestSessionCreateValidation(t *testing.T) {
	env := apitest.New(t, true, withTaskQueue(t))
	p := env.NewPartner()
	type tc struct {
		name   string
		change map[string]any
		code   string
		field  string
	}
	long := func(n int) string { return strings.Repeat("x", n) }
	cases := []tc{
		{"missing tenantId", map[string]any{"tenantId": nil}, "invalid_request", "tenantId"},
		{"empty tenantId", map[string]any{"tenantId": ""}, "invalid_request", "tenantId"},
		{"long tenantId", map[string]any{"tenantId": long(129)}, "invalid_request", "tenantId"},
		{"control char in tenantId", map[string]any{"tenantId": "a\tb"}, "invalid_request", "tenantId"},
		{"missing tenantName", map[string]any{"tenantName": nil}, "invalid_request", "tenantName"},
		{"long tenantName", map[string]any{"tenantName": long(201)}, "invalid_request", "tenantName"},
		{"tenantName wrong type", map[string]any{"tenantName": 7}, "invalid_request", "tenantName"},
		{"missing verify token", map[string]any{"webhookVerifyToken": nil}, "invalid_request", "webhookVerifyToken"},
		{"long verify token", map[string]any{"webhookVerifyToken": long(201)}, "invalid_request", "webhookVerifyToken"},
		{"metadata array", map[string]any{"metadata": []int{1}}, "invalid_request", "metadata"},
		{"metadata too big", map[string]any{"metadata": map[string]string{"x": long(17 << 10)}}, "invalid_request", "metadata"},
		{"expiry too short", map[string]any{"expiresInSeconds": 299}, "invalid_request", "expiresInSeconds"},
		{"expiry too long", map[string]any{"expiresInSeconds": 86401}, "invalid_request", "expiresInSeconds"},
		{"expiry wrong type", map[string]any{"expiresInSeconds": "1h"}, "invalid_request", "expiresInSeconds"},
		{"missing redirect", map[string]any{"cancelRedirectUrl": nil}, "invalid_request", "cancelRedirectUrl"},
		{"redirect off the allow-list", map[string]any{"successRedirectUrl": "https://evil.test/onboarding"}, "invalid_redirect_url", "successRedirectUrl"},
		{"redirect over http", map[string]any{"failureRedirectUrl": "http://app.acme.test/onboarding"}, "invalid_redirect_url", "failureRedirectUrl"},
		{"redirect with userinfo", map[string]any{"cancelRedirectUrl": "https://app.acme.test@evil.test/onboarding"}, "invalid_redirect_url", "cancelRedirectUrl"},
		{"redirect with backslash", map[string]any{"successRedirectUrl": `https://app.acme.test\@evil.test/onboarding`}, "invalid_redirect_url", "successRedirectUrl"},
		{"redirect with dot-segment", map[string]any{"successRedirectUrl": "https://app.acme.test/onboarding/../admin"}, "invalid_redirect_url", "successRedirectUrl"},
		{"redirect with encoded dot-segment", map[string]any{"successRedirectUrl": "https://app.acme.test/onboarding/%2E%2e/admin"}, "invalid_redirect_url", "successRedirectUrl"},
		{"redirect outside the path", map[string]any{"successRedirectUrl": "https://app.acme.test/onboardingx"}, "invalid_redirect_url", "successRedirectUrl"},
		{"webhook over http", map[string]any{"webhookOverrideUrl": "http://hooks.acme.test/wa"}, "invalid_webhook_url", "webhookOverrideUrl"},
		{"webhook on a private address", map[string]any{"webhookOverrideUrl": "https://10.0.0.1/wa"}, "invalid_webhook_url", "webhookOverrideUrl"},
		{"webhook on mapped loopback", map[string]any{"webhookOverrideUrl": "https://[::ffff:127.0.0.1]/wa"}, "invalid_webhook_url", "webhookOverrideUrl"},
		{"webhook on metadata address", map[string]any{"webhookOverrideUrl": "https://169.254.169.254/latest"}, "invalid_webhook_url", "webhookOverrideUrl"},
		{"webhook on decimal loopback", map[string]any{"webhookOverrideUrl": "https://2130706433/wa"}, "invalid_webhook_url", "webhookOverrideUrl"},
		{"webhook on CGNAT", map[string]any{"webhookOverrideUrl": "https://100.64.1.1/wa"}, "invalid_webhook_url", "webhookOverrideUrl"},
		{"webhook over 200 chars", map[string]any{"webhookOverrideUrl": "https://hooks.acme.test/" + long(180)}, "invalid_webhook_url", "webhookOverrideUrl"},
		{"webhook with userinfo", map[string]any{"webhookOverrideUrl": "https://u:p@hooks.acme.test/wa"}, "invalid_webhook_url", "webhookOverrideUrl"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions", Key: p.Key, Body: sessionBody(c.change)})
			require.Equal(t, 400, res.Status, "%s", res.Body)
			assert.Equal(t, c.code, res.ErrorCode())
			details := res.Map(t)["error"].(map[string]any)["details"].(map[string]any)
			if c.code == "invalid_request" {
				assert.Contains(t, details["fields"], c.field)
			} else {
				assert.Equal(t, c.field, details["field"])
			}
		})
	}
	var n int
	require.NoError(t, env.Store.Pool.QueryRow(context.Background(), "SELECT count(*) FROM onboarding_sessions WHERE partner_id = $1", p.Row.ID).Scan(&n))
	assert.Zero(t, n, "no rejected request created a session")
}

// The preflight GETs the URL as Meta would and reports what went wrong (SPEC §4.3).
func TestSessionCreatePreflight(t *testing.T) {
	env := apitest.New(t, true, withTaskQueue(t), func(c *configT) { c.DevMode = true })
	p := env.NewPartner()
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			fmt.Fprintf(w, "  %s\n", r.URL.Query().Get("hub.challenge"))
		case "/error":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "/wrong":
			fmt.Fprint(w, "hello "+r.URL.Query().Get("hub.verify_token"))
		}
	}))
	defer echo.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	for _, c := range []struct {
		url, category string
		status        any
	}{
		{closedURL + "/wa", "endpoint_unreachable", nil},
		{echo.URL + "/error", "endpoint_http_error", float64(500)},
		{echo.URL + "/wrong", "challenge_mismatch", float64(200)},
	} {
		res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions", Key: p.Key,
			Body: sessionBody(map[string]any{"webhookOverrideUrl": c.url, "skipWebhookPreflight": false})})
		require.Equal(t, 422, res.Status, "%s", res.Body)
		assert.Equal(t, "webhook_preflight_failed", res.ErrorCode())
		pre := res.Map(t)["error"].(map[string]any)["details"].(map[string]any)["preflight"].(map[string]any)
		assert.Equal(t, c.category, pre["category"], c.url)
		assert.Equal(t, c.status, pre["httpStatus"], c.url)
		assert.NotContains(t, res.Body, []byte(`"vt"`), "the verify token is never echoed")
	}
	res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions", Key: p.Key,
		Body: sessionBody(map[string]any{"webhookOverrideUrl": echo.URL + "/ok", "skipWebhookPreflight": false})})
	assert.Equal(t, 201, res.Status, "%s", res.Body)
	res = env.Do(apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions", Key: p.Key,
		Body: sessionBody(map[string]any{"webhookOverrideUrl": echo.URL + "/error", "skipWebhookPreflight": true})})
	assert.Equal(t, 201, res.Status, "skipWebhookPreflight skips it")
}

func TestSessionCreateReadListAndIsolation(t *testing.T) {
	env := apitest.New(t, true, withTaskQueue(t))
	p := env.NewPartner()
	other := env.NewPartner(func(s *partners.Settings) { s.AllowedRedirectURLs = []string{"https://app.acme.test/onboarding"} })
	res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions", Key: p.Key,
		Body: sessionBody(map[string]any{"metadata": map[string]any{"plan": "pro"}, "expiresInSeconds": 600, "coexistence": true})})
	require.Equal(t, 201, res.Status, "%s", res.Body)
	created := res.Map(t)
	id := created["sessionId"].(string)
	assert.Regexp(t, `^https://onboard\.example\.test/onboard/[0-9A-Za-z]{44}$`, created["onboardingUrl"])
	assert.Equal(t, "pending", created["status"])
	assert.Nil(t, created["idempotencyExpiresAt"], "no Idempotency-Key, nothing remembered")

	got := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/onboarding/sessions/" + id, Key: p.Key}).Map(t)
	assert.Equal(t, "onboarding/"+id, got["workflowId"])
	assert.Equal(t, map[string]any{"plan": "pro"}, got["metadata"])
	assert.Equal(t, true, got["coexistence"])
	assert.Nil(t, got["failure"])

	list := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/onboarding/sessions?tenantId=acme-1&status=pending", Key: p.Key}).Map(t)
	assert.Len(t, list["data"], 1)
	bad := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/onboarding/sessions?status=done", Key: p.Key})
	assert.Equal(t, "invalid_request", bad.ErrorCode())

	for _, req := range []apitest.Request{
		{Method: "GET", Path: "/api/v1/onboarding/sessions/" + id, Key: other.Key},
		{Method: "POST", Path: "/api/v1/onboarding/sessions/" + id + "/cancel", Key: other.Key},
		{Method: "GET", Path: "/api/v1/onboarding/sessions/sess_nope", Key: p.Key},
	} {
		res := env.Do(req)
		assert.Equal(t, 404, res.Status)
		assert.Equal(t, "not_found", res.ErrorCode())
	}
	tenant := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/tenants/never%2Fseen%20tenant", Key: p.Key})
	require.Equal(t, 200, tenant.Status)
	assert.Equal(t, map[string]any{"tenantId": "never/seen tenant", "connections": []any{}, "sessions": []any{}}, tenant.Map(t))
	tenant = env.Do(apitest.Request{Method: "GET", Path: "/api/v1/tenants/acme-1", Key: other.Key})
	assert.Empty(t, tenant.Map(t)["sessions"], "another partner's tenant of the same id is another tenant")
}

// Same key, same body: the same session and one workflow. A crash between the session row and
// the workflow start is repaired by the retry (SPEC §4.4).
func TestIdempotentSessionCreateRepairsACrashedStart(t *testing.T) {
	queue := withTaskQueue(t)
	broken := apitest.New(t, false, queue) // no Temporal: the start fails after the row is written
	healthy := apitest.New(t, true, queue)
	p := broken.NewPartner()
	req := apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions", Key: p.Key, Body: sessionBody(nil),
		Header: map[string]string{"Idempotency-Key": "create-acme-1"}}

	first := broken.Do(req)
	require.Equal(t, 503, first.Status, "%s", first.Body)
	var orphans int
	require.NoError(t, broken.Store.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM onboarding_sessions WHERE partner_id = $1 AND workflow_started_at IS NULL", p.Row.ID).Scan(&orphans))
	require.Equal(t, 1, orphans)
	retry := healthy.Do(req)
	require.Equal(t, 201, retry.Status, "%s", retry.Body)
	again := healthy.Do(req)
	require.Equal(t, 201, again.Status)
	assert.Equal(t, "true", again.Header.Get("Idempotent-Replayed"))
	assert.JSONEq(t, string(retry.Body), string(again.Body))
	created := retry.Map(t)
	assert.NotNil(t, created["idempotencyExpiresAt"])

	var sessions int
	require.NoError(t, healthy.Store.Pool.QueryRow(context.Background(),
		"SELECT count(*) FROM onboarding_sessions WHERE partner_id = $1 AND workflow_started_at IS NOT NULL", p.Row.ID).Scan(&sessions))
	assert.Equal(t, 1, sessions, "one session, now with its workflow")
	desc, err := healthy.Temporal.DescribeWorkflow(context.Background(), "onboarding/"+created["sessionId"].(string), "")
	require.NoError(t, err)
	assert.Equal(t, "OnboardingWorkflow", desc.RawResponse.GetWorkflowExecutionInfo().GetType().GetName())
	// The token recorded before the crash is the one in the URL: it opens the session's page.
	url := created["onboardingUrl"].(string)
	page := healthy.Do(apitest.Request{Method: "GET", Path: url[strings.Index(url, "/onboard/"):], NoCheck: true})
	assert.Equal(t, 200, page.Status)
}
