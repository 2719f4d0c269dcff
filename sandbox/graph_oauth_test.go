package sandbox

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAccessTokenExchange(t *testing.T) {
	e := newEnv(t)
	cfg := e.sb.Config()
	newCode := func() string {
		s, err := e.client.CreateESSession(ctx(t), ESSessionRequest{Scenario: ScenarioFinish})
		require.NoError(t, err)
		return s.Code
	}
	exchange := func(params map[string]any) graphResp {
		return e.graph(http.MethodGet, "/v21.0/oauth/access_token", "", params)
	}
	good := func(code string) map[string]any {
		return map[string]any{"client_id": cfg.AppID, "client_secret": cfg.AppSecret, "code": code}
	}

	t.Run("success is single use", func(t *testing.T) {
		code := newCode()
		require.True(t, strings.HasPrefix(code, "AQ"))
		require.Greater(t, len(code), 300)
		r := exchange(good(code))
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		assert.Equal(t, "bearer", r.Body["token_type"])
		assert.True(t, strings.HasPrefix(r.Body["access_token"].(string), "EAA"))
		assert.InDelta(t, (60 * 24 * time.Hour).Seconds(), r.Body["expires_in"], 5)

		again := exchange(good(code))
		assert.Equal(t, http.StatusBadRequest, again.Status)
		c, sc := again.errCode()
		assert.Equal(t, []int{100, 36009}, []int{c, sc})
		assert.Equal(t, "This authorization code has been used.", again.errField("message"))
		assert.Contains(t, again.Header.Get("WWW-Authenticate"), `OAuth "Facebook Platform" "invalid_code"`)
	})

	t.Run("expires after 30 s of sandbox time", func(t *testing.T) {
		code := newCode()
		_, err := e.client.AdvanceClock(ctx(t), 29*time.Second)
		require.NoError(t, err)
		okCode := newCode() // issued now; the first one has 1 s left
		_, err = e.client.AdvanceClock(ctx(t), 2*time.Second)
		require.NoError(t, err)
		r := exchange(good(code))
		c, sc := r.errCode()
		assert.Equal(t, []int{100, 36007}, []int{c, sc}, r.Raw)
		assert.Equal(t, "This authorization code has expired.", r.errField("message"))
		assert.Equal(t, http.StatusOK, exchange(good(okCode)).Status)
	})

	cases := []struct {
		name      string
		params    func(code string) map[string]any
		code, sub int
		message   string
	}{
		{"wrong secret", func(c string) map[string]any {
			p := good(c)
			p["client_secret"] = "nope"
			return p
		}, 1, 0, "Error validating client secret."},
		{"wrong app id", func(c string) map[string]any {
			p := good(c)
			p["client_id"] = "999999999999999"
			return p
		}, 101, 0, "Error validating application. Invalid application ID."},
		{"garbage code", func(string) map[string]any { return good("AQgarbage") }, 100, 0, "Invalid verification code format."},
		{"redirect_uri on a popup code", func(c string) map[string]any {
			p := good(c)
			p["redirect_uri"] = "https://example.test/cb"
			return p
		}, 100, 36008, "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code := newCode()
			r := exchange(tc.params(code))
			assert.Equal(t, http.StatusBadRequest, r.Status)
			c, sc := r.errCode()
			assert.Equal(t, []int{tc.code, tc.sub}, []int{c, sc}, r.Raw)
			assert.Equal(t, tc.message, r.errField("message"))
			assert.Equal(t, "OAuthException", r.errField("type"))
			assert.NotEmpty(t, r.errField("fbtrace_id"))
			// The failed attempt did not spend the code.
			assert.Equal(t, http.StatusOK, exchange(good(code)).Status)
		})
	}

	t.Run("code bound to a redirect_uri", func(t *testing.T) {
		s, err := e.client.CreateESSession(ctx(t), ESSessionRequest{Scenario: ScenarioFinish, RedirectURI: "https://app.test/onboard"})
		require.NoError(t, err)
		_, sc := exchange(good(s.Code)).errCode()
		assert.Equal(t, 36008, sc)
		p := good(s.Code)
		p["redirect_uri"] = "https://app.test/onboard"
		assert.Equal(t, http.StatusOK, exchange(p).Status)
	})

	t.Run("knobs expire and burn a code", func(t *testing.T) {
		expired, burned := newCode(), newCode()
		require.NoError(t, e.client.ExpireCode(ctx(t), expired))
		require.NoError(t, e.client.BurnCode(ctx(t), burned))
		_, sc := exchange(good(expired)).errCode()
		assert.Equal(t, 36007, sc)
		_, sc = exchange(good(burned)).errCode()
		assert.Equal(t, 36009, sc)
		var ce *ControlError
		require.ErrorAs(t, e.client.BurnCode(ctx(t), "AQunknown"), &ce)
		assert.Equal(t, http.StatusNotFound, ce.Status)
	})

	t.Run("POST form works too", func(t *testing.T) {
		code := newCode()
		resp, err := e.srv.Client().PostForm(e.sb.GraphBaseURL()+"/v25.0/oauth/access_token",
			map[string][]string{"client_id": {cfg.AppID}, "client_secret": {cfg.AppSecret}, "code": {code}})
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "v25.0", resp.Header.Get("facebook-api-version"))
	})
}

func TestDebugToken(t *testing.T) {
	e := newEnv(t)
	cfg := e.sb.Config()
	appToken := cfg.AppID + "|" + cfg.AppSecret

	first, _ := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	// A second WABA of the same business: the new token lists it first.
	second, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish, BusinessID: first.BusinessID})
	require.NotEqual(t, first.WABAID, second.WABAID)

	r := e.graph(http.MethodGet, "/v21.0/debug_token", appToken, map[string]any{"input_token": tok})
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	data := r.Body["data"].(map[string]any)
	assert.Equal(t, true, data["is_valid"])
	assert.Equal(t, cfg.AppID, data["app_id"])
	scopes := data["granular_scopes"].([]any)
	require.Len(t, scopes, 2)
	mgmt := scopes[0].(map[string]any)
	assert.Equal(t, "whatsapp_business_management", mgmt["scope"])
	assert.Equal(t, []any{second.WABAID, first.WABAID}, mgmt["target_ids"])

	t.Run("the token can debug itself", func(t *testing.T) {
		r := e.graph(http.MethodGet, "/v21.0/debug_token", tok, map[string]any{"input_token": tok})
		assert.Equal(t, http.StatusOK, r.Status)
	})
	t.Run("unknown input token", func(t *testing.T) {
		r := e.graph(http.MethodGet, "/v21.0/debug_token", appToken, map[string]any{"input_token": "EAAnothing"})
		data := r.Body["data"].(map[string]any)
		assert.Equal(t, false, data["is_valid"])
		assert.EqualValues(t, 190, data["error"].(map[string]any)["code"])
	})
	t.Run("revoked input token", func(t *testing.T) {
		n, err := e.client.RevokeToken(ctx(t), TokenFault{Token: tok})
		require.NoError(t, err)
		require.Equal(t, 1, n)
		r := e.graph(http.MethodGet, "/v21.0/debug_token", appToken, map[string]any{"input_token": tok})
		data := r.Body["data"].(map[string]any)
		assert.Equal(t, false, data["is_valid"])
		assert.EqualValues(t, 458, data["error"].(map[string]any)["subcode"])
	})
	t.Run("missing input_token", func(t *testing.T) {
		r := e.graph(http.MethodGet, "/v21.0/debug_token", appToken, nil)
		c, _ := r.errCode()
		assert.Equal(t, 100, c)
	})
}
