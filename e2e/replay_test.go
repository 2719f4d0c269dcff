package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/dualhook/dualhook/sandbox"
	"github.com/dualhook/dualhook/testkit/apitest"
	"github.com/dualhook/dualhook/testkit/stacktest"
	"github.com/dualhook/dualhook/worker"
)

// Histories of real runs (completed, failed with an undo at Meta, cancelled through the API,
// expired) replay against the current workflow code: a change to the workflow's shape that would
// break running workflows fails here. With DUALHOOK_UPDATE_HISTORIES=1 the histories are also
// written to workflows/testdata, where workflows' own replay test keeps them.
func TestSessionHistoriesReplayDeterministically(t *testing.T) {
	st := stacktest.New(t, stacktest.Options{})
	ctx := context.Background()
	histories := map[string]string{}

	completed, token := st.CreateSession(st.Partner, "replay-ok", nil)
	st.API.Do(apitest.Request{Method: "GET", Path: "/onboard/" + token, NoCheck: true})
	st.WaitSession(completed, "started")
	body, _ := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	require.Equal(t, "completed", decide(t, st.Callback(token, body)).Status)
	histories["onboarding_completed.json"] = completed

	failed, token := st.CreateSession(st.Partner, "replay-failed", nil)
	body, es := st.Signup(sandbox.ESSessionRequest{Scenario: "finish"})
	require.NoError(t, st.Meta.MarkRegisteredElsewhere(ctx, es.PhoneNumberID, true))
	require.Equal(t, "failed", decide(t, st.Callback(token, body)).Status)
	histories["onboarding_failed_undone.json"] = failed

	cancelled, _ := st.CreateSession(st.Partner, "replay-cancelled", nil)
	st.API.Do(apitest.Request{Method: "POST", Path: "/api/v1/onboarding/sessions/" + cancelled + "/cancel", Key: st.Partner.Key})
	histories["onboarding_cancelled.json"] = cancelled

	expired, _ := st.InsertSession(st.Partner, "replay-expired", time.Second, true)
	st.WaitSession(expired, "expired")
	histories["onboarding_expired.json"] = expired

	update := os.Getenv("DUALHOOK_UPDATE_HISTORIES") == "1"
	dir := t.TempDir()
	for file, sessionID := range histories {
		st.WaitWorkflowClosed("onboarding/" + sessionID)
		path := filepath.Join(dir, file)
		require.NoError(t, os.WriteFile(path, st.DecodedHistory("onboarding/"+sessionID), 0o600))
		replayer := sdkworker.NewWorkflowReplayer()
		worker.RegisterWorkflows(replayer)
		require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(nil, path), "%s does not replay", file)
		if update {
			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join("..", "workflows", "testdata", file), raw, 0o644))
		}
	}
}
