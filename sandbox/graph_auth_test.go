package sandbox

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGraphAuthAndEnvelope(t *testing.T) {
	e := newEnv(t)
	sess, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	other, otherTok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	cfg := e.sb.Config()

	cases := []struct {
		name         string
		method, path string
		token        string
		status       int
		code, sub    int
		typ          string
	}{
		{"no token", "GET", "/v21.0/" + sess.WABAID, "", 400, 104, 0, "OAuthException"},
		{"garbage token", "GET", "/v21.0/" + sess.WABAID, "EAAgarbage", 401, 190, 0, "OAuthException"},
		{"token not granted the WABA", "GET", "/v21.0/" + sess.WABAID, otherTok, 403, 200, 1349174, "OAuthException"},
		{"token not granted the number", "POST", "/v21.0/" + sess.PhoneNumberID + "/register", otherTok, 403, 200, 1349174, "OAuthException"},
		{"app token on customer assets", "GET", "/v21.0/" + sess.WABAID + "/phone_numbers", cfg.AppID + "|" + cfg.AppSecret, 403, 200, 1349174, "OAuthException"},
		{"unknown object", "GET", "/v21.0/123456789012345", tok, 400, 100, 33, "GraphMethodException"},
		{"unsupported method", "DELETE", "/v21.0/" + sess.WABAID, tok, 400, 100, 33, "GraphMethodException"},
		{"unknown edge", "GET", "/v21.0/" + sess.WABAID + "/nonsense", tok, 400, 2500, 0, "OAuthException"},
		{"bad version", "GET", "/21.0/" + sess.WABAID, tok, 400, 2500, 0, "OAuthException"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.graph(tc.method, tc.path, tc.token, nil)
			assert.Equal(t, tc.status, r.Status, r.Raw)
			c, sc := r.errCode()
			assert.Equal(t, []int{tc.code, tc.sub}, []int{c, sc}, r.Raw)
			assert.Equal(t, tc.typ, r.errField("type"))
			trace := r.errField("fbtrace_id")
			assert.NotEmpty(t, trace)
			assert.Equal(t, trace, r.Header.Get("x-fb-trace-id"))
			assert.NotEmpty(t, r.Header.Get("x-fb-request-id"))
		})
	}

	t.Run("access_token query parameter is accepted", func(t *testing.T) {
		r := e.graph("GET", "/v21.0/"+other.WABAID, "", map[string]any{"access_token": otherTok})
		assert.Equal(t, http.StatusOK, r.Status, r.Raw)
	})

	t.Run("expired token answers 190/463", func(t *testing.T) {
		_, err := e.client.AdvanceClock(ctx(t), 61*24*time.Hour)
		require.NoError(t, err)
		t.Cleanup(func() { _, _ = e.client.AdvanceClock(ctx(t), -61*24*time.Hour) })
		r := e.graph("GET", "/v21.0/"+sess.WABAID, tok, nil)
		assert.Equal(t, http.StatusUnauthorized, r.Status)
		c, sc := r.errCode()
		assert.Equal(t, []int{190, 463}, []int{c, sc}, r.Raw)
		assert.Contains(t, r.Header.Get("WWW-Authenticate"), "invalid_token")
	})

	t.Run("revoked token answers 190/458, restore brings it back", func(t *testing.T) {
		_, err := e.client.RevokeToken(ctx(t), TokenFault{WABAID: sess.WABAID})
		require.NoError(t, err)
		r := e.graph("GET", "/v21.0/"+sess.WABAID, tok, nil)
		c, sc := r.errCode()
		assert.Equal(t, []int{190, 458}, []int{c, sc}, r.Raw)
		_, err = e.client.RevokeToken(ctx(t), TokenFault{Token: tok, Action: "restore"})
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, e.graph("GET", "/v21.0/"+sess.WABAID, tok, nil).Status)
	})

	t.Run("usage headers", func(t *testing.T) {
		r := e.graph("GET", "/v21.0/"+sess.WABAID, tok, nil)
		require.Equal(t, http.StatusOK, r.Status)
		var usage map[string][]map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.Header.Get("X-Business-Use-Case-Usage")), &usage))
		require.Contains(t, usage, sess.WABAID)
		assert.Equal(t, "whatsapp_business_management", usage[sess.WABAID][0]["type"])
		assert.NotEmpty(t, r.Header.Get("X-App-Usage"))
		assert.Equal(t, "v21.0", r.Header.Get("facebook-api-version"))
	})
}

func TestQuota80008(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.WABAQuotaPerHour = 4 })
	sess, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	var usage []float64
	for range 4 {
		r := e.graph("GET", "/v21.0/"+sess.WABAID, tok, nil)
		require.Equal(t, http.StatusOK, r.Status, r.Raw)
		var u map[string][]map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.Header.Get("X-Business-Use-Case-Usage")), &u))
		usage = append(usage, u[sess.WABAID][0]["call_count"].(float64))
	}
	assert.Equal(t, []float64{25, 50, 75, 100}, usage)

	r := e.graph("GET", "/v21.0/"+sess.WABAID+"/phone_numbers", tok, nil)
	assert.Equal(t, http.StatusBadRequest, r.Status)
	c, _ := r.errCode()
	assert.Equal(t, 80008, c)
	assert.Equal(t, true, r.errField("is_transient"))
	var u map[string][]map[string]any
	require.NoError(t, json.Unmarshal([]byte(r.Header.Get("X-Business-Use-Case-Usage")), &u))
	assert.EqualValues(t, 100, u[sess.WABAID][0]["call_count"])
	assert.EqualValues(t, 60, u[sess.WABAID][0]["estimated_time_to_regain_access"])

	// Other WABAs have their own quota.
	sib, sibTok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	assert.Equal(t, http.StatusOK, e.graph("GET", "/v21.0/"+sib.WABAID, sibTok, nil).Status)

	// The window rolls with the sandbox clock.
	_, err := e.client.AdvanceClock(ctx(t), time.Hour+time.Second)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, e.graph("GET", "/v21.0/"+sess.WABAID, tok, nil).Status)

	// The quota knob overrides the configured quota.
	require.NoError(t, e.client.SetQuota(ctx(t), 1))
	c, _ = e.graph("GET", "/v21.0/"+sess.WABAID, tok, nil).errCode()
	assert.Equal(t, 80008, c)
	require.NoError(t, e.client.SetQuota(ctx(t), 0))
	assert.Equal(t, http.StatusOK, e.graph("GET", "/v21.0/"+sess.WABAID, tok, nil).Status)
}
