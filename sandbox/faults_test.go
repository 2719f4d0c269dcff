package sandbox

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGraphFaults(t *testing.T) {
	e := newEnv(t)
	sess, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	wabaPath := "/v21.0/" + sess.WABAID
	setFault := func(f Fault) Fault {
		t.Helper()
		out, err := e.client.SetFault(ctx(t), f)
		require.NoError(t, err)
		return out
	}

	cases := []struct {
		name      string
		fault     Fault
		status    int
		code      int
		transient bool
	}{
		{"5xx", Fault{Endpoint: "waba", Kind: FaultHTTP5xx, Status: 502}, 502, 1, true},
		{"transient default code 2", Fault{Endpoint: "waba", Kind: FaultTransient}, 503, 2, true},
		{"transient 131000", Fault{Endpoint: "*", Kind: FaultTransient, Code: 131000}, 500, 131000, true},
		{"rate limit", Fault{Endpoint: "waba", Kind: FaultRateLimit, RegainMinutes: 7}, 400, 80008, true},
		{"any graph error", Fault{Endpoint: "waba", Method: "GET", Kind: FaultGraphError, Code: 368, Message: "(#368) blocked"}, 403, 368, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			setFault(tc.fault)
			r := e.graph("GET", wabaPath, tok, nil)
			assert.Equal(t, tc.status, r.Status, r.Raw)
			c, _ := r.errCode()
			assert.Equal(t, tc.code, c)
			if tc.transient {
				assert.Equal(t, true, r.errField("is_transient"))
			} else {
				assert.Nil(t, r.errField("is_transient"))
			}
			// Count defaults to one: the next call is fine.
			assert.Equal(t, http.StatusOK, e.graph("GET", wabaPath, tok, nil).Status)
		})
	}

	t.Run("rate limit headers", func(t *testing.T) {
		setFault(Fault{Endpoint: "waba/phone_numbers", Kind: FaultRateLimit, RegainMinutes: 7})
		r := e.graph("GET", wabaPath+"/phone_numbers", tok, nil)
		assert.JSONEq(t, `{"`+sess.WABAID+`":[{"type":"whatsapp_business_management","call_count":100,"total_cputime":25,"total_time":25,"estimated_time_to_regain_access":7}]}`,
			r.Header.Get("X-Business-Use-Case-Usage"))
	})

	t.Run("count, endpoint and method matching", func(t *testing.T) {
		f := setFault(Fault{Endpoint: "waba/subscribed_apps", Method: "POST", Kind: FaultTransient, Count: 2})
		assert.Equal(t, http.StatusOK, e.graph("GET", wabaPath+"/subscribed_apps", tok, nil).Status, "GET does not match")
		assert.Equal(t, http.StatusOK, e.graph("GET", wabaPath, tok, nil).Status, "other endpoint")
		for range 2 {
			c, _ := e.graph("POST", wabaPath+"/subscribed_apps", tok, nil).errCode()
			assert.Equal(t, 2, c)
		}
		assert.Equal(t, http.StatusOK, e.graph("POST", wabaPath+"/subscribed_apps", tok, nil).Status)
		list, err := e.client.Faults(ctx(t))
		require.NoError(t, err)
		for _, r := range list.Rules {
			assert.NotEqual(t, f.ID, r.ID, "used-up rules disappear")
		}
	})

	t.Run("probability 1 with count -1 fires until deleted", func(t *testing.T) {
		f := setFault(Fault{Endpoint: "phone", Kind: FaultHTTP5xx, Probability: 1, Count: -1})
		for range 3 {
			assert.Equal(t, 500, e.graph("GET", "/v21.0/"+sess.PhoneNumberID, tok, nil).Status)
		}
		require.NoError(t, e.client.DeleteFault(ctx(t), f.ID))
		assert.Equal(t, 200, e.graph("GET", "/v21.0/"+sess.PhoneNumberID, tok, nil).Status)
	})

	t.Run("after-phase fault burns the code", func(t *testing.T) {
		s, err := e.client.CreateESSession(ctx(t), ESSessionRequest{Scenario: ScenarioFinish})
		require.NoError(t, err)
		setFault(Fault{Endpoint: "oauth/access_token", Kind: FaultHTTP5xx, Phase: "after"})
		cfg := e.sb.Config()
		params := map[string]any{"client_id": cfg.AppID, "client_secret": cfg.AppSecret, "code": s.Code}
		assert.Equal(t, 500, e.graph("GET", "/v21.0/oauth/access_token", "", params).Status)
		_, sc := e.graph("GET", "/v21.0/oauth/access_token", "", params).errCode()
		assert.Equal(t, 36009, sc, "the failed call had spent the code")
	})

	t.Run("before-phase fault leaves the code usable", func(t *testing.T) {
		s, err := e.client.CreateESSession(ctx(t), ESSessionRequest{Scenario: ScenarioFinish})
		require.NoError(t, err)
		setFault(Fault{Endpoint: "oauth/access_token", Kind: FaultTransient})
		cfg := e.sb.Config()
		params := map[string]any{"client_id": cfg.AppID, "client_secret": cfg.AppSecret, "code": s.Code}
		assert.Equal(t, 503, e.graph("GET", "/v21.0/oauth/access_token", "", params).Status)
		assert.Equal(t, 200, e.graph("GET", "/v21.0/oauth/access_token", "", params).Status)
	})

	t.Run("timeout holds the request until the client gives up", func(t *testing.T) {
		setFault(Fault{Endpoint: "waba", Kind: FaultTimeout})
		client := &http.Client{Timeout: 300 * time.Millisecond}
		req, _ := http.NewRequest("GET", e.sb.GraphBaseURL()+wabaPath, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		start := time.Now()
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		var nerr net.Error
		require.True(t, errors.As(err, &nerr) && nerr.Timeout(), "got %v", err)
		assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
	})

	t.Run("reset drops the connection", func(t *testing.T) {
		setFault(Fault{Endpoint: "waba", Kind: FaultReset})
		req, _ := http.NewRequest("GET", e.sb.GraphBaseURL()+wabaPath, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		tr := &http.Transport{DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		var uerr *url.Error
		require.ErrorAs(t, err, &uerr)
	})

	t.Run("delay answers normally, later", func(t *testing.T) {
		setFault(Fault{Endpoint: "waba", Kind: FaultDelay, DelayMs: 150})
		start := time.Now()
		assert.Equal(t, 200, e.graph("GET", wabaPath, tok, nil).Status)
		assert.GreaterOrEqual(t, time.Since(start), 150*time.Millisecond)
	})

	t.Run("invalid rules are refused", func(t *testing.T) {
		for _, f := range []Fault{{Kind: "explode"}, {Kind: FaultHTTP5xx, Status: 404}, {Kind: FaultGraphError}, {Kind: FaultDelay, Phase: "during"}, {Kind: FaultDelay, Probability: 2}} {
			_, err := e.client.SetFault(ctx(t), f)
			var ce *ControlError
			require.ErrorAs(t, err, &ce, "%+v", f)
			assert.Equal(t, 400, ce.Status)
		}
	})

	t.Run("clear", func(t *testing.T) {
		setFault(Fault{Kind: FaultTransient, Count: -1})
		require.NoError(t, e.client.FailOverrideVerification(ctx(t), OverrideFault{Count: 2}))
		require.NoError(t, e.client.ClearFaults(ctx(t)))
		list, err := e.client.Faults(ctx(t))
		require.NoError(t, err)
		assert.Empty(t, list.Rules)
		assert.Empty(t, list.OverrideVerificationFailures)
		assert.Equal(t, 200, e.graph("GET", wabaPath, tok, nil).Status)
	})
}

func TestCallsLog(t *testing.T) {
	e := newEnv(t)
	sess, tok := e.onboard(ESSessionRequest{Scenario: ScenarioFinish})
	cfg := e.sb.Config()
	e.graph("GET", "/v21.0/debug_token", cfg.AppID+"|"+cfg.AppSecret, map[string]any{"input_token": tok})
	echo, _ := challengeServer(t, true)
	e.graph("POST", "/v21.0/"+sess.WABAID+"/subscribed_apps", tok, nil)
	e.graph("POST", "/v21.0/"+sess.WABAID+"/subscribed_apps", tok, map[string]any{"override_callback_uri": echo.URL, "verify_token": "vt-secret"})
	e.graph("POST", "/v21.0/"+sess.PhoneNumberID+"/register", tok, map[string]any{"messaging_product": "whatsapp", "pin": "135790"})

	calls, err := e.client.Calls(ctx(t), CallFilter{})
	require.NoError(t, err)
	require.Len(t, calls, 5)
	ex := calls[0]
	assert.Equal(t, "oauth/access_token", ex.Endpoint)
	assert.Equal(t, "GET", ex.Method)
	assert.Equal(t, "/v21.0/oauth/access_token", ex.Path)
	assert.Equal(t, map[string]string{"client_id": cfg.AppID, "client_secret": "[redacted]", "code": "[redacted]"}, ex.Params)
	assert.Equal(t, 200, ex.Status)
	assert.Equal(t, map[string]string{"input_token": "[redacted]"}, calls[1].Params)
	assert.Equal(t, "bearer", calls[1].Auth)
	ov := calls[3]
	assert.Equal(t, "waba/subscribed_apps", ov.Endpoint)
	assert.Equal(t, sess.WABAID, ov.WABAID)
	assert.Equal(t, map[string]string{"override_callback_uri": echo.URL, "verify_token": "[redacted]"}, ov.Params)
	assert.Equal(t, "[redacted]", calls[4].Params["pin"])
	assert.Equal(t, sess.WABAID, calls[4].WABAID, "phone calls are attributed to their WABA")

	filtered, err := e.client.Calls(ctx(t), CallFilter{Endpoint: "waba/subscribed_apps", Method: "POST"})
	require.NoError(t, err)
	assert.Len(t, filtered, 2)
	since, err := e.client.Calls(ctx(t), CallFilter{Since: calls[3].Seq})
	require.NoError(t, err)
	require.Len(t, since, 1)
	assert.Equal(t, "phone/register", since[0].Endpoint)

	// Failures are recorded with their codes; secrets never appear anywhere.
	e.graph("GET", "/v21.0/"+sess.WABAID, "EAAbad", nil)
	last, err := e.client.Calls(ctx(t), CallFilter{Since: calls[4].Seq})
	require.NoError(t, err)
	require.Len(t, last, 1)
	assert.Equal(t, 401, last[0].Status)
	assert.Equal(t, 190, last[0].ErrorCode)

	resp, err := http.Get(e.srv.URL + Prefix + "calls")
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, secret := range []string{tok, sess.Code, cfg.AppSecret, "vt-secret", "135790"} {
		assert.NotContains(t, string(raw), secret)
	}

	require.NoError(t, e.client.ClearCalls(ctx(t)))
	calls, err = e.client.Calls(ctx(t), CallFilter{})
	require.NoError(t, err)
	assert.Empty(t, calls)
}
