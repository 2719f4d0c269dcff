package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dualhook/dualhook/internal/payloadcodec"
	"github.com/dualhook/dualhook/internal/secretstore"
	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/stacktest"
	"github.com/dualhook/dualhook/testkit/testenv"
)

// No token, PIN, verify token or OAuth code appears in any Temporal history, even after
// decrypting the payloads (SPEC §12: only references travel).
func TestNoSecretInAnyTemporalHistory(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	ctx := context.Background()
	var secrets []string

	sessionOK, token := st.CreateSession(st.Partner, "secret-ok", stacktest.SessionRequest{"webhookVerifyToken": "vt-XYZZY-secret-ok"})
	body, es := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	secrets = append(secrets, es.Code, "vt-XYZZY-secret-ok")
	require.Equal(t, "completed", decide(t, st.Callback(token, body)).Status)

	sessionBad, token := st.CreateSession(st.Partner, "secret-bad", stacktest.SessionRequest{"webhookVerifyToken": "vt-XYZZY-secret-bad"})
	body, es = st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	secrets = append(secrets, es.Code, "vt-XYZZY-secret-bad")
	require.NoError(t, st.Meta.MarkRegisteredElsewhere(ctx, es.PhoneNumberID, true))
	require.Equal(t, "failed", decide(t, st.Callback(token, body)).Status)

	// The access tokens and PINs the sessions obtained, read back from the encrypted store.
	rows, err := st.API.Store.Pool.Query(ctx, "SELECT id FROM secrets WHERE ciphertext IS NOT NULL AND kind IN ('access_token', 'registration_pin') AND partner_id = $1", st.Partner.Row.ID)
	require.NoError(t, err)
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		v, err := secretstore.Read(ctx, st.API.Store, st.API.Ring, id)
		require.NoError(t, err)
		secrets = append(secrets, v)
	}
	rows.Close()
	require.GreaterOrEqual(t, len(secrets), 7, "two codes, two verify tokens, two tokens, at least one PIN")

	// Read the histories raw (no codec), then decrypted with the codec.
	raw, err := client.Dial(client.Options{HostPort: testenv.TemporalAddress(t)})
	require.NoError(t, err)
	defer raw.Close()
	codec := payloadcodec.Codec{Ring: st.API.Ring}
	workflows := 0
	for _, sessionID := range []string{sessionOK, sessionBad} {
		resp, err := raw.WorkflowService().GetWorkflowExecutionHistory(ctx, &workflowservice.GetWorkflowExecutionHistoryRequest{
			Namespace: "default", Execution: workflowExecution("onboarding/" + sessionID),
		})
		require.NoError(t, err)
		history := resp.GetHistory()
		require.NotEmpty(t, history.GetEvents())
		workflows++
		rawJSON, err := protojson.Marshal(history)
		require.NoError(t, err)
		decoded := decodeAll(t, codec, string(rawJSON))
		assert.Contains(t, decoded, `"TokenSecretID":"sec_`, "decoding works: operators see the references")
		assert.NotContains(t, string(rawJSON), `TokenSecretID`, "without the codec the payloads are ciphertext")
		for _, secret := range secrets {
			assert.NotContains(t, string(rawJSON), secret)
			assert.False(t, strings.Contains(decoded, secret), "a secret is in the decoded history of %s", sessionID)
		}
	}
	assert.Equal(t, 2, workflows)
}
