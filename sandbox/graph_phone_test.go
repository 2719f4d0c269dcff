package sandbox

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func register(e *env, phoneID, tok, pin string) graphResp {
	return e.graph("POST", "/v21.0/"+phoneID+"/register", tok, map[string]any{"messaging_product": "whatsapp", "pin": pin})
}

func TestGetPhone(t *testing.T) {
	e := newEnv(t)
	sess, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish, DisplayPhoneNumber: "15550783881", VerifiedName: "Lucky Shrub"})

	r := e.graph("GET", "/v21.0/"+sess.PhoneNumberID, tok, nil)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	assert.Equal(t, map[string]any{"id": sess.PhoneNumberID, "display_phone_number": "15550783881",
		"verified_name": "Lucky Shrub", "quality_rating": "GREEN"}, r.Body)

	health := func() map[string]any {
		r := e.graph("GET", "/v21.0/"+sess.PhoneNumberID, tok, map[string]any{
			"fields": "quality_rating,messaging_limit_tier,name_status,health_status,status,platform_type,is_on_biz_app",
		})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		return r.Body
	}
	h := health()
	assert.Equal(t, "TIER_250", h["messaging_limit_tier"])
	assert.Equal(t, "APPROVED", h["name_status"])
	assert.Equal(t, "PENDING", h["status"])
	assert.Equal(t, "BLOCKED", h["health_status"].(map[string]any)["can_send_message"], "an unregistered number cannot send")

	require.Equal(t, http.StatusOK, register(e, sess.PhoneNumberID, tok, "123456").Status)
	h = health()
	assert.Equal(t, "CONNECTED", h["status"])
	assert.Equal(t, "CLOUD_API", h["platform_type"])
	hs := h["health_status"].(map[string]any)
	assert.Equal(t, "AVAILABLE", hs["can_send_message"])
	assert.Len(t, hs["entities"], 4)

	quality, tier := "RED", "TIER_1K"
	require.NoError(t, e.client.UpdateNumber(ctx(t), NumberFault{PhoneNumberID: sess.PhoneNumberID, QualityRating: &quality, MessagingLimitTier: &tier}))
	h = health()
	assert.Equal(t, "RED", h["quality_rating"])
	assert.Equal(t, "TIER_1K", h["messaging_limit_tier"])
	assert.Equal(t, "LIMITED", h["health_status"].(map[string]any)["can_send_message"])
}

func TestRegister(t *testing.T) {
	e := newEnv(t)
	sess, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	coex, coexTok := e.onboard(ESSessionRequest{Scenario: ScenarioFinishCoex})
	elsewhere, elseTok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	require.NoError(t, e.client.MarkRegisteredElsewhere(ctx(t), elsewhere.PhoneNumberID, true))

	cases := []struct {
		name       string
		phone, tok string
		params     map[string]any
		code       int
		status     int
	}{
		{"pin too short", sess.PhoneNumberID, tok, map[string]any{"messaging_product": "whatsapp", "pin": "12345"}, 100, 400},
		{"pin not digits", sess.PhoneNumberID, tok, map[string]any{"messaging_product": "whatsapp", "pin": "12345a"}, 100, 400},
		{"no messaging_product", sess.PhoneNumberID, tok, map[string]any{"pin": "123456"}, 100, 400},
		{"coexistence number", coex.PhoneNumberID, coexTok, map[string]any{"messaging_product": "whatsapp", "pin": "123456"}, 100, 400},
		{"registered elsewhere", elsewhere.PhoneNumberID, elseTok, map[string]any{"messaging_product": "whatsapp", "pin": "123456"}, 100, 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.graph("POST", "/v21.0/"+tc.phone+"/register", tc.tok, tc.params)
			assert.Equal(t, tc.status, r.Status)
			c, _ := r.errCode()
			assert.Equal(t, tc.code, c, r.Raw)
		})
	}
	r := register(e, coex.PhoneNumberID, coexTok, "123456")
	assert.Contains(t, r.errField("error_data").(map[string]any)["details"], "coexistence")

	t.Run("success, idempotent retry, PIN mismatch", func(t *testing.T) {
		r := register(e, sess.PhoneNumberID, tok, "654321")
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, map[string]any{"success": true}, r.Body)
		assert.Equal(t, http.StatusOK, register(e, sess.PhoneNumberID, tok, "654321").Status)
		r = register(e, sess.PhoneNumberID, tok, "111111")
		c, _ := r.errCode()
		assert.Equal(t, 133005, c, r.Raw)
	})

	t.Run("10 requests per 72 h, then 133016", func(t *testing.T) {
		fresh, ftok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
		for i := range 10 {
			pin := "222222"
			if i%2 == 0 {
				pin = "333333" // mismatches count too once the PIN is set
			}
			require.NotEqual(t, 133016, func() int { c, _ := register(e, fresh.PhoneNumberID, ftok, pin).errCode(); return c }())
		}
		r := register(e, fresh.PhoneNumberID, ftok, "333333")
		c, _ := r.errCode()
		assert.Equal(t, 133016, c, r.Raw)
		assert.Equal(t, http.StatusBadRequest, r.Status)
		_, err := e.client.AdvanceClock(ctx(t), 72*time.Hour+time.Second)
		require.NoError(t, err)
		// The window rolled: a request is accepted again (333333 is the PIN set first).
		assert.Equal(t, http.StatusOK, register(e, fresh.PhoneNumberID, ftok, "333333").Status)
	})

	t.Run("more than 14 days after signup", func(t *testing.T) {
		late, ltok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
		_, err := e.client.AdvanceClock(ctx(t), 15*24*time.Hour)
		require.NoError(t, err)
		c, _ := register(e, late.PhoneNumberID, ltok, "123456").errCode()
		assert.Equal(t, 133006, c)
	})
}

func TestDeregisterAndPin(t *testing.T) {
	e := newEnv(t)
	sess, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	coex, coexTok := e.onboard(ESSessionRequest{Scenario: ScenarioFinishCoex})
	dereg := func(id, tok string) graphResp { return e.graph("POST", "/v21.0/"+id+"/deregister", tok, nil) }

	c, _ := dereg(sess.PhoneNumberID, tok).errCode()
	assert.Equal(t, 133010, c, "not registered yet")
	require.Equal(t, http.StatusOK, register(e, sess.PhoneNumberID, tok, "123456").Status)
	r := dereg(sess.PhoneNumberID, tok)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	c, _ = dereg(coex.PhoneNumberID, coexTok).errCode()
	assert.Equal(t, 100, c, "coexistence numbers cannot be deregistered")

	// Two-step PIN change, then register must use it.
	r = e.graph("POST", "/v21.0/"+sess.PhoneNumberID, tok, map[string]any{"pin": "999999"})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	c, _ = register(e, sess.PhoneNumberID, tok, "123456").errCode()
	assert.Equal(t, 133005, c)
	assert.Equal(t, http.StatusOK, register(e, sess.PhoneNumberID, tok, "999999").Status)
}

func TestPhoneWebhookOverride(t *testing.T) {
	e := newEnv(t)
	sess, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	echo, seen := challengeServer(t, true)
	silent, _ := challengeServer(t, false)
	set := func(uri string) graphResp {
		return e.graph("POST", "/v21.0/"+sess.PhoneNumberID, tok, map[string]any{
			"webhook_configuration": map[string]any{"override_callback_uri": uri, "verify_token": "pv"},
		})
	}
	c, _ := set(silent.URL).errCode()
	assert.Equal(t, 2200, c)
	require.Equal(t, http.StatusOK, set(echo.URL+"/p").Status)
	assert.Equal(t, "pv", (<-seen).Get("hub.verify_token"))
	r := e.graph("GET", "/v21.0/"+sess.PhoneNumberID, tok, map[string]any{"fields": "webhook_configuration"})
	assert.Equal(t, echo.URL+"/p", r.Body["webhook_configuration"].(map[string]any)["phone_number"])
	require.Equal(t, http.StatusOK, set("").Status)
	r = e.graph("GET", "/v21.0/"+sess.PhoneNumberID, tok, map[string]any{"fields": "webhook_configuration"})
	assert.NotContains(t, r.Body["webhook_configuration"], "phone_number")
}

func TestSMBAppData(t *testing.T) {
	e := newEnv(t)
	coex, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinishCoex})
	cloud, cloudTok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	sync := func(id, tok, typ string) graphResp {
		return e.graph("POST", "/v21.0/"+id+"/smb_app_data", tok, map[string]any{"messaging_product": "whatsapp", "sync_type": typ})
	}

	r := e.graph("GET", "/v21.0/"+coex.PhoneNumberID, tok, map[string]any{"fields": "is_on_biz_app,platform_type"})
	assert.Equal(t, map[string]any{"id": coex.PhoneNumberID, "is_on_biz_app": true, "platform_type": "CLOUD_API"}, r.Body)

	for _, typ := range []string{"smb_app_state_sync", "history"} {
		r := sync(coex.PhoneNumberID, tok, typ)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, "whatsapp", r.Body["messaging_product"])
		assert.NotEmpty(t, r.Body["request_id"])
		r = sync(coex.PhoneNumberID, tok, typ)
		c, _ := r.errCode()
		assert.Equal(t, 4, c, r.Raw)
		assert.Equal(t, http.StatusBadRequest, r.Status)
		assert.Equal(t, "(#4) Sync request limit exceeded", r.Body["error"].(map[string]any)["message"])
		assert.NotContains(t, r.Body["error"], "is_transient")
	}
	c, _ := sync(coex.PhoneNumberID, tok, "contacts").errCode()
	assert.Equal(t, 100, c)
	c, _ = sync(cloud.PhoneNumberID, cloudTok, "history").errCode()
	assert.Equal(t, 100, c, "not a coexistence number")

	late, lateTok := e.onboard(ESSessionRequest{Scenario: ScenarioFinishCoex})
	_, err := e.client.AdvanceClock(ctx(t), 25*time.Hour)
	require.NoError(t, err)
	c, _ = sync(late.PhoneNumberID, lateTok, "history").errCode()
	assert.Equal(t, 2593108, c)

	// Re-onboarding the number opens a new window.
	again, againTok := e.onboard(ESSessionRequest{Scenario: ScenarioFinishCoex, WABAID: late.WABAID, PhoneNumberID: late.PhoneNumberID})
	assert.Equal(t, late.PhoneNumberID, again.PhoneNumberID)
	assert.Equal(t, http.StatusOK, sync(late.PhoneNumberID, againTok, "history").Status)
}

// TestSMBAppDataDocumentedRepeatCode: the knob brings back the 2593107 that
// Meta's coexistence page documents for a repeated sync.
func TestSMBAppDataDocumentedRepeatCode(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RepeatedSyncCode = SyncLimitCodeDocumented })
	coex, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinishCoex})
	body := map[string]any{"messaging_product": "whatsapp", "sync_type": "history"}
	require.Equal(t, http.StatusOK, e.graph("POST", "/v21.0/"+coex.PhoneNumberID+"/smb_app_data", tok, body).Status)
	r := e.graph("POST", "/v21.0/"+coex.PhoneNumberID+"/smb_app_data", tok, body)
	c, _ := r.errCode()
	assert.Equal(t, 2593107, c, r.Raw)
	assert.Equal(t, http.StatusBadRequest, r.Status)

	_, err := New(Config{RepeatedSyncCode: 100})
	assert.Error(t, err)
}
