package sandbox

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGetWABA(t *testing.T) {
	e := newEnv(t)
	sess, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish, BusinessName: "Lucky Shrub"})

	r := e.graph("GET", "/v21.0/"+sess.WABAID, tok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, map[string]any{"id": sess.WABAID, "name": "Lucky Shrub WhatsApp"}, r.Body)

	r = e.graph("GET", "/v21.0/"+sess.WABAID, tok, map[string]any{"fields": "id,name,currency,owner_business_info{id,name},account_review_status,timezone_id"})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	assert.Equal(t, map[string]any{"id": sess.BusinessID, "name": "Lucky Shrub"}, r.Body["owner_business_info"])
	assert.Equal(t, "USD", r.Body["currency"])
	assert.Equal(t, "APPROVED", r.Body["account_review_status"])

	r = e.graph("GET", "/v21.0/"+sess.WABAID, tok, map[string]any{"fields": "id,bogus"})
	assert.Equal(t, http.StatusBadRequest, r.Status)
	assert.Equal(t, "(#100) Tried accessing nonexisting field (bogus) on node type (WhatsAppBusinessAccount)", r.errField("message"))
}

func TestListPhoneNumbers(t *testing.T) {
	e := newEnv(t)
	first, _ := e.onboard(ESSessionRequest{Scenario: ScenarioFinish, DisplayPhoneNumber: "15550000001"})
	// Siblings: three more numbers on the same WABA.
	var tok string
	ids := []string{first.PhoneNumberID}
	for range 3 {
		var s ESSession
		s, tok = e.onboard(ESSessionRequest{Scenario: ScenarioFinish, WABAID: first.WABAID})
		require.Equal(t, first.WABAID, s.WABAID)
		require.Equal(t, first.BusinessID, s.BusinessID)
		ids = append([]string{s.PhoneNumberID}, ids...) // newest first
	}

	r := e.graph("GET", "/v21.0/"+first.WABAID+"/phone_numbers", tok, nil)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	data := r.Body["data"].([]any)
	require.Len(t, data, 4)
	n := data[3].(map[string]any)
	assert.Equal(t, first.PhoneNumberID, n["id"])
	assert.Equal(t, "15550000001", n["display_phone_number"])
	for _, k := range []string{"verified_name", "code_verification_status", "quality_rating", "platform_type", "throughput", "webhook_configuration"} {
		assert.Contains(t, n, k)
	}
	assert.NotContains(t, n, "is_on_biz_app")

	t.Run("fields", func(t *testing.T) {
		r := e.graph("GET", "/v21.0/"+first.WABAID+"/phone_numbers", tok, map[string]any{"fields": "is_on_biz_app,platform_type"})
		n := r.Body["data"].([]any)[0].(map[string]any)
		assert.Equal(t, map[string]any{"id": ids[0], "is_on_biz_app": false, "platform_type": "NOT_APPLICABLE"}, n)
	})

	t.Run("paging", func(t *testing.T) {
		var got []string
		params := map[string]any{"limit": "3", "fields": "id"}
		r := e.graph("GET", "/v21.0/"+first.WABAID+"/phone_numbers", tok, params)
		for _, d := range r.Body["data"].([]any) {
			got = append(got, d.(map[string]any)["id"].(string))
		}
		paging := r.Body["paging"].(map[string]any)
		next, ok := paging["next"].(string)
		require.True(t, ok, "paging.next on a partial page")
		require.True(t, strings.HasPrefix(next, e.sb.GraphBaseURL()+"/v21.0/"+first.WABAID+"/phone_numbers?"))
		u, err := url.Parse(next)
		require.NoError(t, err)
		assert.Equal(t, paging["cursors"].(map[string]any)["after"], u.Query().Get("after"))
		params["after"] = u.Query().Get("after")
		r = e.graph("GET", "/v21.0/"+first.WABAID+"/phone_numbers", tok, params)
		for _, d := range r.Body["data"].([]any) {
			got = append(got, d.(map[string]any)["id"].(string))
		}
		assert.NotContains(t, r.Body["paging"].(map[string]any), "next")
		assert.Equal(t, ids, got)
	})

	t.Run("filtering and sort", func(t *testing.T) {
		r := e.graph("GET", "/v21.0/"+first.WABAID+"/phone_numbers", tok, map[string]any{
			"filtering": `[{"field":"display_phone_number","operator":"EQUAL","value":"15550000001"}]`,
		})
		require.Len(t, r.Body["data"], 1)
		r = e.graph("GET", "/v21.0/"+first.WABAID+"/phone_numbers", tok, map[string]any{"sort": "['last_onboarded_time_ascending']", "limit": "1"})
		assert.Equal(t, first.PhoneNumberID, r.Body["data"].([]any)[0].(map[string]any)["id"])
	})
}

func TestSubscribedApps(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.AppWebhookURL = "https://app.test/meta/webhooks" })
	sess, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	path := "/v21.0/" + sess.WABAID + "/subscribed_apps"
	echo, seen := challengeServer(t, true)
	silent, _ := challengeServer(t, false)
	cfg := e.sb.Config()

	list := func() []any {
		r := e.graph("GET", path, tok, nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		return r.Body["data"].([]any)
	}
	require.Empty(t, list())

	t.Run("DELETE of an unsubscribed app succeeds", func(t *testing.T) {
		r := e.graph("DELETE", path, tok, nil)
		assert.Equal(t, http.StatusOK, r.Status)
		assert.Equal(t, true, r.Body["success"])
	})

	t.Run("override before subscribing is refused", func(t *testing.T) {
		r := e.graph("POST", path, tok, map[string]any{"override_callback_uri": echo.URL + "/hook", "verify_token": "vt"})
		assert.Equal(t, http.StatusBadRequest, r.Status)
		c, _ := r.errCode()
		assert.Equal(t, 100, c)
		assert.Contains(t, r.errField("message"), "must be subscribed")
		assert.Empty(t, seen, "no verification GET before the app is subscribed")
	})

	r := e.graph("POST", path, tok, nil)
	require.Equal(t, http.StatusOK, r.Status)
	assert.Equal(t, map[string]any{"success": true}, r.Body)
	apps := list()
	require.Len(t, apps, 1)
	assert.Equal(t, map[string]any{"whatsapp_business_api_data": map[string]any{
		"id": cfg.AppID, "name": cfg.AppName, "link": "https://www.facebook.com/games/?app_id=" + cfg.AppID,
	}}, apps[0])

	overrideCases := []struct {
		name      string
		uri       string
		token     string
		code      int
		msgSubstr string
	}{
		{"listener that does not echo", silent.URL + "/hook", "vt", 2200, "HTTP Status Code = 404; HTTP Message = Not Found"},
		{"nothing listening", "http://127.0.0.1:1/hook", "vt", 2200, "curl_errno = 7"},
		{"too long", "https://example.test/" + strings.Repeat("a", 190), "vt", 100, "at most 200 characters"},
		{"not a URL", "not a url", "vt", 100, "Invalid callback URI format"},
		{"missing verify token", echo.URL + "/hook", "", 100, "verify_token"},
	}
	for _, tc := range overrideCases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.graph("POST", path, tok, map[string]any{"override_callback_uri": tc.uri, "verify_token": tc.token})
			assert.Equal(t, http.StatusBadRequest, r.Status)
			c, _ := r.errCode()
			assert.Equal(t, tc.code, c, r.Raw)
			assert.Contains(t, r.errField("message"), tc.msgSubstr)
			assert.NotContains(t, list()[0], "override_callback_uri")
		})
	}

	t.Run("override verified against an echoing listener", func(t *testing.T) {
		uri := echo.URL + "/hook?tenant=a"
		r := e.graph("POST", path, tok, map[string]any{"override_callback_uri": uri, "verify_token": "s3cret"})
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		q := <-seen
		assert.Equal(t, "subscribe", q.Get("hub.mode"))
		assert.Equal(t, "s3cret", q.Get("hub.verify_token"))
		assert.Equal(t, "a", q.Get("tenant"), "existing query parameters are kept")
		assert.Regexp(t, `^[1-9][0-9]{9}$`, q.Get("hub.challenge"))
		assert.Equal(t, uri, list()[0].(map[string]any)["override_callback_uri"])

		p := e.graph("GET", "/v21.0/"+sess.PhoneNumberID, tok, map[string]any{"fields": "webhook_configuration"})
		assert.Equal(t, map[string]any{"application": cfg.AppWebhookURL, "whatsapp_business_account": uri}, p.Body["webhook_configuration"])
	})

	t.Run("forced verification failure", func(t *testing.T) {
		require.NoError(t, e.client.FailOverrideVerification(ctx(t), OverrideFault{Failure: VerifyFailWrongChallenge}))
		r := e.graph("POST", path, tok, map[string]any{"override_callback_uri": echo.URL + "/other", "verify_token": "x"})
		c, _ := r.errCode()
		assert.Equal(t, 2200, c)
		assert.Contains(t, r.errField("message"), "Response does not match challenge")
		// Only one failure was queued.
		r = e.graph("POST", path, tok, map[string]any{"override_callback_uri": echo.URL + "/other", "verify_token": "x"})
		assert.Equal(t, http.StatusOK, r.Status, r.Raw)
		<-seen
	})

	t.Run("POST without body clears the override", func(t *testing.T) {
		require.Equal(t, http.StatusOK, e.graph("POST", path, tok, nil).Status)
		apps := list()
		require.Len(t, apps, 1)
		assert.NotContains(t, apps[0], "override_callback_uri")
	})

	t.Run("other partners' apps are listed", func(t *testing.T) {
		require.NoError(t, e.client.SetWABA(ctx(t), WABAFault{WABAID: sess.WABAID, OtherApps: []SubscribedApp{{AppID: "555555555555555", AppName: "Other BSP", OverrideURL: "https://other.test/hook"}}}))
		apps := list()
		require.Len(t, apps, 2)
		assert.Equal(t, "https://other.test/hook", apps[1].(map[string]any)["override_callback_uri"])
	})

	t.Run("DELETE unsubscribes only this app", func(t *testing.T) {
		require.Equal(t, http.StatusOK, e.graph("DELETE", path, tok, nil).Status)
		apps := list()
		require.Len(t, apps, 1)
		assert.Equal(t, "555555555555555", apps[0].(map[string]any)["whatsapp_business_api_data"].(map[string]any)["id"])
	})
}

func TestBusinessEdges(t *testing.T) {
	e := newEnv(t)
	a, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	b, _ := e.onboard(ESSessionRequest{Scenario: ScenarioFinish, BusinessID: a.BusinessID})
	r := e.graph("GET", "/v21.0/"+a.BusinessID+"/owned_whatsapp_business_accounts", tok, nil)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	data := r.Body["data"].([]any)
	require.Len(t, data, 2)
	assert.Equal(t, b.WABAID, data[0].(map[string]any)["id"])
	r = e.graph("GET", "/v21.0/"+e.sb.Config().PartnerBusinessID+"/client_whatsapp_business_accounts", tok, map[string]any{"sort": "creation_time_ascending"})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	assert.Equal(t, a.WABAID, r.Body["data"].([]any)[0].(map[string]any)["id"])
}
