package sandbox

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestESSessionScenarios(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		req      ESSessionRequest
		wantCode bool
		check    func(t *testing.T, s ESSession, ev map[string]any)
	}{
		{ESSessionRequest{Scenario: ScenarioFinish}, true, func(t *testing.T, s ESSession, ev map[string]any) {
			assert.Equal(t, map[string]any{"phone_number_id": s.PhoneNumberID, "waba_id": s.WABAID, "business_id": s.BusinessID}, ev["data"])
			assert.Equal(t, "FINISH", ev["event"])
			assert.NotContains(t, ev, "version")
		}},
		{ESSessionRequest{Scenario: ScenarioFinishCoex}, true, func(t *testing.T, s ESSession, ev map[string]any) {
			assert.Equal(t, map[string]any{"waba_id": s.WABAID}, ev["data"])
			assert.Equal(t, "FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING", ev["event"])
			assert.EqualValues(t, 3, ev["version"])
			assert.NotEmpty(t, s.PhoneNumberID, "a coexistence number backs the session")
		}},
		{ESSessionRequest{Scenario: ScenarioFinishOnlyWABA}, true, func(t *testing.T, s ESSession, ev map[string]any) {
			assert.Equal(t, map[string]any{"waba_id": s.WABAID}, ev["data"])
			assert.Equal(t, "FINISH_ONLY_WABA", ev["event"])
			assert.Empty(t, s.PhoneNumberID)
		}},
		{ESSessionRequest{Scenario: ScenarioFinishAppOnly}, true, func(t *testing.T, s ESSession, ev map[string]any) {
			assert.Equal(t, "FINISH_GRANT_ONLY_API_ACCESS", ev["event"])
			assert.Len(t, ev["data"], 3)
		}},
		{ESSessionRequest{Scenario: ScenarioCancel, CancelStep: "PERMISSIONS"}, false, func(t *testing.T, s ESSession, ev map[string]any) {
			assert.Equal(t, map[string]any{"current_step": "PERMISSIONS"}, ev["data"])
			assert.Equal(t, "CANCEL", ev["event"])
		}},
		{ESSessionRequest{Scenario: ScenarioCancel}, false, func(t *testing.T, s ESSession, ev map[string]any) {
			assert.Equal(t, map[string]any{"current_step": "PHONE_NUMBER_SETUP"}, ev["data"])
		}},
		{ESSessionRequest{Scenario: ScenarioError, ErrorMessage: "boom"}, false, func(t *testing.T, s ESSession, ev map[string]any) {
			d := ev["data"].(map[string]any)
			assert.Equal(t, "CANCEL", ev["event"])
			assert.Equal(t, "boom", d["error_message"])
			assert.Equal(t, "524126", d["error_id"])
			assert.Regexp(t, `^[0-9a-f]{15}$`, d["session_id"])
			assert.Regexp(t, `^[0-9]{10}$`, d["timestamp"])
		}},
		{ESSessionRequest{Scenario: ScenarioErrorLegacy}, false, func(t *testing.T, s ESSession, ev map[string]any) {
			assert.Equal(t, "ERROR", ev["event"])
			assert.Equal(t, defaultErrorMessage, ev["data"].(map[string]any)["error_message"])
		}},
	}
	for _, tc := range cases {
		name := tc.req.Scenario + tc.req.CancelStep
		t.Run(name, func(t *testing.T) {
			s, err := e.client.CreateESSession(ctx(t), tc.req)
			require.NoError(t, err)
			var ev map[string]any
			require.NoError(t, json.Unmarshal([]byte(s.MessageEventJSON), &ev))
			assert.Equal(t, "WA_EMBEDDED_SIGNUP", ev["type"])
			tc.check(t, s, ev)
			if tc.wantCode {
				assert.Equal(t, "connected", s.LoginResponse.Status)
				require.NotNil(t, s.LoginResponse.AuthResponse)
				assert.Equal(t, s.Code, s.LoginResponse.AuthResponse.Code)
				assert.Regexp(t, `^[1-9][0-9]{14,15}$`, s.WABAID)
				assert.Regexp(t, `^[1-9][0-9]{14,15}$`, s.BusinessID)
				e.exchange(s.Code)
			} else {
				assert.Empty(t, s.Code)
				assert.Equal(t, LoginResponse{Status: "unknown"}, s.LoginResponse)
			}
		})
	}

	t.Run("raw JSON matches Meta's key order and the typed event", func(t *testing.T) {
		s, err := e.client.CreateESSession(ctx(t), ESSessionRequest{Scenario: ScenarioFinishCoex, WABAID: "524126980791429"})
		require.NoError(t, err)
		assert.JSONEq(t, `{"data":{"waba_id":"524126980791429"},"type":"WA_EMBEDDED_SIGNUP","event":"FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING","version":3}`, s.MessageEventJSON)
		assert.Equal(t, `{"data":{"waba_id":"524126980791429"},"type":"WA_EMBEDDED_SIGNUP","event":"FINISH_WHATSAPP_BUSINESS_APP_ONBOARDING","version":3}`, s.MessageEventJSON)
		resp, err := http.Post(e.srv.URL+Prefix+"es/sessions", "application/json", nil)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "a scenario is required")
	})

	t.Run("given ids are used and a given WABA is reused", func(t *testing.T) {
		s, err := e.client.CreateESSession(ctx(t), ESSessionRequest{Scenario: ScenarioFinish, BusinessID: "2729063490586005", WABAID: "102290129340398", PhoneNumberID: "106540352242922"})
		require.NoError(t, err)
		assert.Equal(t, []string{"2729063490586005", "102290129340398", "106540352242922"}, []string{s.BusinessID, s.WABAID, s.PhoneNumberID})
		sib, err := e.client.CreateESSession(ctx(t), ESSessionRequest{Scenario: ScenarioFinish, WABAID: "102290129340398"})
		require.NoError(t, err)
		assert.Equal(t, "2729063490586005", sib.BusinessID)
		assert.NotEqual(t, s.PhoneNumberID, sib.PhoneNumberID)
		st, err := e.client.State(ctx(t))
		require.NoError(t, err)
		var n int
		for _, p := range st.Phones {
			if p.WABAID == "102290129340398" {
				n++
			}
		}
		assert.Equal(t, 2, n)
	})

	bad := []ESSessionRequest{
		{Scenario: "nope"},
		{Scenario: ScenarioCancel, CancelStep: "SOMEWHERE"},
		{Scenario: ScenarioFinish, WABAID: "abc"},
		{Scenario: ScenarioFinish, WABAID: "102290129340398", BusinessID: "111111111111111"},
	}
	for _, req := range bad {
		_, err := e.client.CreateESSession(ctx(t), req)
		var ce *ControlError
		require.ErrorAs(t, err, &ce, "%+v", req)
		assert.Equal(t, http.StatusBadRequest, ce.Status)
	}
}

func TestStateViewRedactsSecrets(t *testing.T) {
	e := newEnv(t)
	s, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	require.Equal(t, http.StatusOK, register(e, s.PhoneNumberID, tok, "424242").Status)
	resp, err := http.Get(e.srv.URL + Prefix + "state")
	require.NoError(t, err)
	defer resp.Body.Close()
	var raw json.RawMessage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&raw))
	body := string(raw)
	assert.NotContains(t, body, tok)
	assert.NotContains(t, body, s.Code)
	assert.NotContains(t, body, "424242")
	assert.NotContains(t, body, e.sb.Config().AppSecret)
	assert.Contains(t, body, `"hasPin":true`)
}
