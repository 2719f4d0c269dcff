package e2e

import (
	"encoding/json"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/stacktest"
)

func TestCloudAPIOnboardingHappyPath(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	sessionID, token := st.CreateSession(st.Partner, "acme-42", nil)

	// The page's first open starts the session.
	page := st.API.Do(apitest.Request{Method: "GET", Path: "/onboard/" + token, NoCheck: true})
	require.Equal(t, 200, page.Status)
	st.WaitSession(sessionID, "started")

	body, es := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	res := st.Callback(token, body)
	require.Equal(t, 200, res.Status, "%s", res.Body)
	var decided struct{ Status, RedirectURL string }
	res.JSON(t, &decided)
	assert.Equal(t, "completed", decided.Status)
	u, err := url.Parse(decided.RedirectURL)
	require.NoError(t, err)
	assert.Equal(t, "/onboarding/done", u.Path)
	assert.Equal(t, "whatsapp", u.Query().Get("tab"), "existing query parameters are kept")
	assert.Equal(t, sessionID, u.Query().Get("sessionId"))
	assert.Equal(t, "completed", u.Query().Get("status"))

	session := st.Session(sessionID)
	require.NotNil(t, session.ConnectionID)
	conn := st.API.Do(apitest.Request{Method: "GET", Path: "/api/v1/connections/" + *session.ConnectionID, Key: st.Partner.Key})
	require.Equal(t, 200, conn.Status, "%s", conn.Body)
	c := conn.Map(t)
	assert.Equal(t, es.WABAID, c["wabaId"])
	assert.Equal(t, es.PhoneNumberID, c["phoneNumberId"])
	assert.Equal(t, "cloud_api", c["connectionMode"])
	assert.Equal(t, "active", c["status"])
	assert.Equal(t, st.Hook.URL("acme-42"), c["webhookUrl"])
	assert.Equal(t, map[string]any{"plan": "pro", "tenant": "acme-42"}, c["metadata"])
	assert.NotContains(t, string(conn.Body), "verify-acme-42", "never a verify token")

	// Events: started then completed, delivered, metadata round-tripped.
	evs := st.WaitEvents(sessionID, 2)
	assert.Equal(t, "onboarding.started", evs[0].Type)
	assert.Equal(t, "onboarding.completed", evs[1].Type)
	var completed struct {
		Data map[string]any `json:"data"`
	}
	require.NoError(t, json.Unmarshal(evs[1].Body, &completed))
	assert.Equal(t, map[string]any{"plan": "pro", "tenant": "acme-42"}, completed.Data["metadata"])
	assert.Equal(t, *session.ConnectionID, completed.Data["connectionId"])

	// Meta saw exactly the calls of SPEC §6, in order.
	assert.Equal(t, []string{
		"GET oauth/access_token", "GET debug_token", "GET waba", "GET waba/phone_numbers",
		"POST waba/subscribed_apps", "POST waba/subscribed_apps", "POST phone/register",
	}, st.GraphCalls())
}
