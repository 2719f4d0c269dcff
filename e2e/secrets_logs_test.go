package e2e

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/dualhook/dualhook/internal/domain"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/stacktest"
	"github.com/dualhook/dualhook/testkit/testenv"
)

// No secret the flow creates or obtains appears in any log line, at any level, of any logger the
// stack uses (the API's, the worker's, the Temporal SDK's), nor in a decoded Temporal history:
// create, page, signup, callback, reveal, webhook PATCH, DELETE.
func TestNoSecretInAnyLog(t *testing.T) {
	logs := testenv.CaptureLogs(t)
	st := stacktest.New(t, stacktest.Options{})
	secrets := map[string]string{
		"partner API key":        st.Partner.Key,
		"partner signing secret": st.Partner.SigningSecret,
		"operator token":         st.API.Config.OperatorToken,
	}
	const verifyToken, newVerifyToken = "vt-LOGSCAN-first-0123456789", "vt-LOGSCAN-second-0123456789"
	secrets["webhook verify token"] = verifyToken

	sessionID, token := st.CreateSession(st.Partner, "logscan", stacktest.SessionRequest{"webhookVerifyToken": verifyToken})
	page := st.API.Do(apitest.Request{Method: "GET", Path: "/onboard/" + token, NoCheck: true})
	require.Equal(t, 200, page.Status)
	st.WaitSession(sessionID, "started")
	body, es := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	require.NotEmpty(t, es.Code)
	secrets["OAuth code"] = es.Code
	require.Equal(t, "completed", decide(t, st.Callback(token, body)).Status)
	row := st.Session(sessionID)
	require.NotNil(t, row.ConnectionID)
	connectionID := *row.ConnectionID

	res := st.API.Do(apitest.Request{Method: "POST", Path: revealPath(connectionID), Key: st.Partner.Key,
		Body: map[string]any{"secretTypes": []string{"access_token", "registration_pin"}}})
	require.Equal(t, 200, res.Status, "%s", res.Body)
	var revealed struct{ Secrets map[string]*string }
	res.JSON(t, &revealed)
	require.NotNil(t, revealed.Secrets["access_token"])
	require.NotNil(t, revealed.Secrets["registration_pin"])
	secrets["access token"] = *revealed.Secrets["access_token"]
	// A six-digit PIN could match any number in the logs by chance; only look for it in a
	// key=value form that would be a leak.
	pin := *revealed.Secrets["registration_pin"]

	secrets["new webhook verify token"] = newVerifyToken
	patch := patchConnection(st, st.Partner, connectionID, map[string]any{"webhookUrl": st.Hook.URL("logscan-v2"), "webhookVerifyToken": newVerifyToken})
	require.Equal(t, 200, patch.Status, "%s", patch.Body)

	del := disconnectCall(st, st.Partner.Key, connectionID)
	require.Contains(t, []int{200, 202}, del.Status, "%s", del.Body)
	st.WaitWorkflowClosed(domain.OnboardingID(sessionID))
	st.WaitWorkflowClosed(domain.DisconnectID(connectionID))
	webhookUpdate := domain.WebhookUpdateID(es.WABAID, 1)
	st.WaitWorkflowClosed(webhookUpdate)

	for name, v := range secrets {
		require.GreaterOrEqual(t, len(v), 8, "%s is long enough to be searched", name)
	}
	sources := map[string]string{
		"logs":                           logs.String(),
		"decoded onboarding history":     string(st.DecodedHistory(domain.OnboardingID(sessionID))),
		"decoded disconnect history":     string(st.DecodedHistory(domain.DisconnectID(connectionID))),
		"decoded webhook update history": string(st.DecodedHistory(webhookUpdate)),
	}
	require.Contains(t, sources["logs"], "level=DEBUG", "the capture sees debug records")
	for where, text := range sources {
		for name, v := range secrets {
			assert.False(t, strings.Contains(text, v), "the %s is in the %s", name, where)
		}
		for _, form := range []string{"pin=" + pin, `"pin":"` + pin, "PIN=" + pin, `pin":` + pin} {
			assert.False(t, strings.Contains(text, form), "the registration PIN is in the %s", where)
		}
	}
	t.Logf("scanned %d bytes of logs and %d histories for %d secrets and the PIN", len(sources["logs"]), len(sources)-1, len(secrets))
}
