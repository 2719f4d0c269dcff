package api_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/internal/config"
	"github.com/dualhook/dualhook/signature"
	"github.com/dualhook/dualhook/testkit/apitest"
)

func TestPartnerSettingsRoundTrip(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()

	res := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: p.Key})
	require.Equal(t, 200, res.Status)
	got := res.Map(t)
	assert.Equal(t, p.Row.ID, got["partnerId"])
	assert.Len(t, got["eventTypes"], 8, "the eight hosted types by default")

	res = env.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/partner", Key: p.Key, Body: map[string]any{
		"displayName": "Acme Support", "brandColor": "#FF5500", "logoUrl": "https://cdn.acme.test/logo.png",
		"allowedRedirectUrls": []string{"https://*.acme.test/done", "https://app.acme.test:8443/x"},
		"eventTypes":          []string{"onboarding.completed", "connection.webhook_updated", "waba.message_template_status_update"},
	}})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	got = res.Map(t)
	assert.Equal(t, "Acme Support", got["displayName"])
	assert.Equal(t, "#ff5500", got["brandColor"], "colours are normalised to lower case")
	assert.Equal(t, "https://cdn.acme.test/logo.png", got["logoUrl"])

	// Absent fields stay; null clears.
	res = env.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/partner", Key: p.Key, Body: `{"logoUrl":null}`})
	require.Equal(t, 200, res.Status)
	got = res.Map(t)
	assert.Nil(t, got["logoUrl"])
	assert.Equal(t, "Acme Support", got["displayName"])
	assert.Equal(t, "#ff5500", got["brandColor"])
}

func TestPartnerSettingsValidation(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()
	cases := []struct {
		body  string
		code  string
		field string
	}{
		{`{"displayName":""}`, "invalid_request", "displayName"},
		{`{"displayName":null}`, "invalid_request", "displayName"},
		{`{"brandColor":"red"}`, "invalid_request", "brandColor"},
		{`{"logoUrl":"http://cdn.acme.test/logo.png"}`, "invalid_request", "logoUrl"},
		{`{"logoUrl":"https://127.0.0.1/logo.png"}`, "invalid_request", "logoUrl"},
		{`{"eventTypes":["onboarding.exploded"]}`, "invalid_request", "eventTypes[0]"},
		{`{"eventTypes":null}`, "invalid_request", "eventTypes"},
		{`{"allowedRedirectUrls":["http://app.acme.test/"]}`, "invalid_redirect_url", "allowedRedirectUrls[0]"},
		{`{"allowedRedirectUrls":["https://ok.test/","https://u:p@app.acme.test/"]}`, "invalid_redirect_url", "allowedRedirectUrls[1]"},
		{`{"eventWebhookUrl":"http://hooks.acme.test/"}`, "invalid_webhook_url", "eventWebhookUrl"},
		{`{"eventWebhookUrl":"https://10.0.0.8/hook"}`, "invalid_webhook_url", "eventWebhookUrl"},
		{`{"eventWebhookUrl":"https://[::ffff:127.0.0.1]/hook"}`, "invalid_webhook_url", "eventWebhookUrl"},
		{`{"eventWebhookUrl":"https://169.254.169.254/latest"}`, "invalid_webhook_url", "eventWebhookUrl"},
		{`{"eventWebhookUrl":"https://localhost/hook"}`, "invalid_webhook_url", "eventWebhookUrl"},
		{`{"eventWebhookUrl":"not a url"}`, "invalid_webhook_url", "eventWebhookUrl"},
	}
	for _, tc := range cases {
		res := env.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/partner", Key: p.Key, Body: tc.body})
		require.Equal(t, 400, res.Status, "%s → %s", tc.body, res.Body)
		assert.Equal(t, tc.code, res.ErrorCode(), tc.body)
		details := res.Map(t)["error"].(map[string]any)["details"].(map[string]any)
		if tc.code == "invalid_request" {
			assert.Contains(t, details["fields"], tc.field, tc.body)
		} else {
			assert.Equal(t, tc.field, details["field"], tc.body)
		}
	}
	// Nothing was changed by the rejected requests.
	res := env.Do(apitest.Request{Method: "GET", Path: "/api/v1/partner", Key: p.Key})
	assert.Equal(t, "Acme SaaS", res.Map(t)["displayName"])
}

func TestDevModeAllowsLoopbackHTTPForLocalhostOnly(t *testing.T) {
	env := apitest.New(t, false, func(c *config.Config) { c.DevMode = true })
	p := env.NewPartner()
	ok := env.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/partner", Key: p.Key, Body: map[string]any{
		"eventWebhookUrl": "http://127.0.0.1:9000/events", "allowedRedirectUrls": []string{"http://localhost:3000/"},
	}})
	assert.Equal(t, 200, ok.Status, "%s", ok.Body)
	for _, u := range []string{"http://10.1.2.3/events", "http://hooks.acme.test/events"} {
		res := env.Do(apitest.Request{Method: "PATCH", Path: "/api/v1/partner", Key: p.Key, Body: map[string]any{"eventWebhookUrl": u}})
		assert.Equal(t, "invalid_webhook_url", res.ErrorCode(), u)
	}
}

func TestSigningSecretRotationKeepsThePreviousSecretFor24h(t *testing.T) {
	env := apitest.New(t, false)
	p := env.NewPartner()
	require.NoError(t, signature.ValidateSecret(p.SigningSecret))

	res := env.Do(apitest.Request{Method: "POST", Path: "/api/v1/partner/signing-secret/rotate", Key: p.Key})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	assert.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	var rotated struct {
		SigningSecret                  string
		PreviousSigningSecretExpiresAt string
	}
	res.JSON(t, &rotated)
	require.NoError(t, signature.ValidateSecret(rotated.SigningSecret))
	assert.NotEqual(t, p.SigningSecret, rotated.SigningSecret)
	assert.NotEmpty(t, rotated.PreviousSigningSecretExpiresAt)

	partner, err := env.Store.GetPartner(t.Context(), p.Row.ID)
	require.NoError(t, err)
	svc := env.PartnerService()
	current, previous, err := svc.SigningSecrets(partner)
	require.NoError(t, err)
	assert.Equal(t, rotated.SigningSecret, current)
	assert.Equal(t, p.SigningSecret, previous)
	assert.NotContains(t, partner.SigningSecretCiphertext, "whsec_", "stored encrypted")

	env.Clock.Advance(24*3600e9 + 1e9)
	_, previous, err = svc.SigningSecrets(partner)
	require.NoError(t, err)
	assert.Empty(t, previous, "the previous secret stops signing after 24 h")
}
